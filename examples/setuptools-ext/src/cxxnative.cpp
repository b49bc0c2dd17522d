// lpsetup._cxxnative: one function in C++ (it uses the C++ standard library, so the
// module only loads if it was linked by the C++ driver, as LDCXXSHARED says).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <string>

static PyObject *shout(PyObject *, PyObject *args)
{
    const char *text;
    if (!PyArg_ParseTuple(args, "s", &text))
        return nullptr;
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c); });
    return PyUnicode_FromString((upper + "!").c_str());
}

static PyMethodDef methods[] = {
    {"shout", shout, METH_VARARGS, "shout(text) -> TEXT!"},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cxxnative", "A C++ extension module built by setuptools.", -1,
    methods, nullptr, nullptr, nullptr, nullptr,
};

PyMODINIT_FUNC PyInit__cxxnative(void) { return PyModule_Create(&module); }
