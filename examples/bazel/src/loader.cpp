// Opens the module given as argv[1] and calls its `shout` on argv[2].
#include <dlfcn.h>

#include <cstddef>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: loader MODULE TEXT\n");
        return 2;
    }
    void *module = dlopen(argv[1], RTLD_NOW);
    if (!module) {
        std::fprintf(stderr, "loader: %s\n", dlerror());
        return 1;
    }
    using shout_fn = std::size_t (*)(char *);
    auto shout = reinterpret_cast<shout_fn>(dlsym(module, "shout"));
    if (!shout) {
        std::fprintf(stderr, "loader: %s\n", dlerror());
        return 1;
    }
    std::string text = argv[2];
    shout(&text[0]);
    std::printf("%s\n", text.c_str());
    dlclose(module);
    return 0;
}
