#include <stdio.h>
#include <stdlib.h>

#include "mathx.h"

int main(int argc, char **argv) {
    long to = argc > 1 ? strtol(argv[1], NULL, 10) : 10;
    printf("sum 1..%ld = %ld\n", to, mathx_sum(1, to));
    return 0;
}
