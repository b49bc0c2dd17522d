/* lpsetup._cnative: one function in C, so that there is something to link. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *triangle(PyObject *self, PyObject *args)
{
    long n;
    (void)self;
    if (!PyArg_ParseTuple(args, "l", &n))
        return NULL;
    return PyLong_FromLong(n * (n + 1) / 2);
}

static PyMethodDef methods[] = {
    {"triangle", triangle, METH_VARARGS, "triangle(n) -> 1 + 2 + ... + n"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cnative", "A C extension module built by setuptools.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cnative(void) { return PyModule_Create(&module); }
