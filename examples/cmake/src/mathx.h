#pragma once
#ifdef __cplusplus
extern "C" {
#endif

/* libmathx.a: a static library (archived, never linked on its own). */
long mathx_sum(long from, long to);

#ifdef __cplusplus
}
#endif
