#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>

int main(int argc, char **argv)
{
    std::string text = argc > 1 ? argv[1] : "quiet";
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    std::cout << text << "!" << std::endl;
    return 0;
}
