#include "mathx.h"

long mathx_sum(long from, long to) {
    long total = 0;
    for (long i = from; i <= to; i++)
        total += i;
    return total;
}
