#include <stdio.h>
#include <stdlib.h>

#include "greet.h"
#include "mathx.h"

int main(int argc, char **argv) {
    long rows = argc > 1 ? strtol(argv[1], NULL, 10) : 3;
    char text[128];
    for (long n = 1; n <= rows; n++)
        printf("%ld %ld\n", n, mathx_sum(1, n));
    greet(text, sizeof text, "table");
    puts(text);
    return 0;
}
