#include <iostream>

#include "greet.h"

int main(int argc, char **argv) {
    std::cout << greeting(argc > 1 ? argv[1] : "world") << "\n";
    return 0;
}
