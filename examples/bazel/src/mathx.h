#pragma once
#ifdef __cplusplus
extern "C" {
#endif

/* mathx: a cc_library (libmathx.a, archived; its libmathx.so is a nodeps link). */
long mathx_sum(long from, long to);

#ifdef __cplusplus
}
#endif
