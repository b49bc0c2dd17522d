#ifndef GREET_H
#define GREET_H
#include <stddef.h>

/* Write "hello, NAME" into buf (at most size bytes); the length it needed. */
int greet(char *buf, size_t size, const char *name);

#endif
