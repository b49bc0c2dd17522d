/* The static library libfmt.a: one formatting helper. */
#ifndef FMT_H
#define FMT_H

#ifdef __cplusplus
extern "C" {
#endif

/* "name = value" into buf (of size n); returns buf. */
char *fmt_pair(char *buf, unsigned long n, const char *name, long value);

#ifdef __cplusplus
}
#endif

#endif
