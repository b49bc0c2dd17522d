/* area W H: the area of a W x H rectangle (default 3 x 4). */
#include <stdio.h>
#include <stdlib.h>

#include "fmt.h"
#include "shapes.h"

int main(int argc, char **argv)
{
    long w = argc > 1 ? atol(argv[1]) : 3, h = argc > 2 ? atol(argv[2]) : 4;
    char buf[64];
    puts(fmt_pair(buf, sizeof buf, "area", shapes_rect_area(w, h)));
    return 0;
}
