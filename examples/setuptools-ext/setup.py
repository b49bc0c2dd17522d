"""Two extension modules: one in C (linked with LDSHARED), one in C++ (LDCXXSHARED)."""

from setuptools import Extension, setup

setup(
    packages=["lpsetup"],
    package_dir={"": "src"},
    ext_modules=[
        Extension("lpsetup._cnative", ["src/cnative.c"]),
        Extension("lpsetup._cxxnative", ["src/cxxnative.cpp"], language="c++"),
    ],
)
