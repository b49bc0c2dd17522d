#ifndef MATHX_H
#define MATHX_H

/* libmathx.a: a static library (archived, never linked on its own). */
long mathx_sum(long from, long to);

#endif
