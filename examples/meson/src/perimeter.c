/* perimeter W H: the perimeter of a W x H rectangle (default 3 x 4). */
#include <stdio.h>
#include <stdlib.h>

#include "shapes.h"

int main(int argc, char **argv)
{
    long w = argc > 1 ? atol(argv[1]) : 3, h = argc > 2 ? atol(argv[2]) : 4;
    printf("perimeter = %ld\n", shapes_rect_perimeter(w, h));
    return 0;
}
