// report: a table of squares, in C++ over the C library.
#include <iostream>
#include <string>
#include <vector>

#include "fmt.h"
#include "shapes.h"

int main()
{
    std::vector<long> sides{1, 2, 5};
    std::cout << shapes_version() << '\n';
    for (long side : sides) {
        char buf[64];
        std::string name = "square " + std::to_string(side);
        std::cout << fmt_pair(buf, sizeof buf, name.c_str(), shapes_square_area(side)) << '\n';
    }
    return 0;
}
