#include <stdio.h>

#include "fmt.h"

char *fmt_pair(char *buf, unsigned long n, const char *name, long value)
{
    snprintf(buf, n, "%s = %ld", name, value);
    return buf;
}
