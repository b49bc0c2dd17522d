#include "greet.h"

#include "mathx.h"

std::string greeting(const std::string &who) {
    return "hello, " + who + " (" + std::to_string(mathx_sum(1, 4)) + ")";
}
