/* The shared library libshapes.so: a few areas and perimeters, in integer units. */
#ifndef SHAPES_H
#define SHAPES_H

#ifdef __cplusplus
extern "C" {
#endif

long shapes_rect_area(long w, long h);
long shapes_rect_perimeter(long w, long h);
long shapes_square_area(long side);
const char *shapes_version(void);

#ifdef __cplusplus
}
#endif

#endif
