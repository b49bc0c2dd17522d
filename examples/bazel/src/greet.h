#pragma once
#include <string>

// greet: a cc_library, linked statically into hello.
std::string greeting(const std::string &who);
