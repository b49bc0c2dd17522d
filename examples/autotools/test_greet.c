#include <stdio.h>
#include <string.h>

#include "greet.h"

int main(void)
{
    char line[16];
    int need = greet(line, sizeof line, "automake");
    if (strcmp(line, "hello, automake") != 0 || need != 15) {
        fprintf(stderr, "greet gave '%s' (%d)\n", line, need);
        return 1;
    }
    greet(line, 8, "truncated");
    return strcmp(line, "hello, ") == 0 ? 0 : 1;
}
