#ifndef GREET_H
#define GREET_H

/* libgreet.so: a shared library. Writes "hello, WHO (N)" into out. */
void greet(char *out, unsigned long size, const char *who);

#endif
