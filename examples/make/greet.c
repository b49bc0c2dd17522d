#include "greet.h"

#include <stdio.h>

#include "mathx.h"

void greet(char *out, unsigned long size, const char *who) {
    snprintf(out, size, "hello, %s (%ld)", who, mathx_sum(1, 4));
}
