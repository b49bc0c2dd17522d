// libshout.so: a loadable module (cc_binary linkshared = True), opened at run time by `loader`.
#include <cctype>
#include <string>

extern "C" std::size_t shout(char *text) {
    std::size_t n = 0;
    for (; text[n]; n++)
        text[n] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[n])));
    return n;
}
