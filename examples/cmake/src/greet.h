#pragma once
#include <string>

// libgreet.so: a shared library.
std::string greeting(const std::string &who);
