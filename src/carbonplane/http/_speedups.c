/* Compiled fast paths of the HTTP rules (optional: the pure-Python code is the specification).
 *
 * split_fields(lines, special_names) -> (headers, specials) | None
 *
 *   The common case of headparser.split_fields, in C: every line is "name:value" with a non-empty
 *   token name (RFC 9110 tchar) free of '_' ; names are lowercased, values stripped of SP/HTAB;
 *   ``specials`` maps each name in ``special_names`` to its values in order. Anything else (a line
 *   without a colon, an empty or non-token name, an underscore in a name, a non-bytes item)
 *   returns None and the caller runs the Python rules, which decide and word the error. So this
 *   function never accepts what the rules refuse, and when it answers it answers exactly what
 *   the rules would (tests/unit/http/test_http_speedups.py checks both on generated input).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static unsigned char tchar[256];

static void init_tables(void) {
    const char *extra = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; c++) tchar[c] = 1;
    for (int c = 'a'; c <= 'z'; c++) tchar[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++) tchar[c] = 1;
    for (const char *p = extra; *p; p++) tchar[(unsigned char)*p] = 1;
}

/* NULL with an exception set, Py_None (new reference) to decline, or the result. */
static PyObject *split_fields(PyObject *self, PyObject *args) {
    PyObject *lines, *special_names;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &lines, &special_names)) return NULL;
    if (!PyAnySet_Check(special_names)) {
        PyErr_SetString(PyExc_TypeError, "special_names must be a set or frozenset");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(lines);
    PyObject *headers = PyList_New(n);
    PyObject *specials = PyDict_New();
    if (headers == NULL || specials == NULL) goto error;
    char lowered[256];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyBytes_CheckExact(line)) goto decline;
        const char *s = PyBytes_AS_STRING(line);
        Py_ssize_t len = PyBytes_GET_SIZE(line);
        const char *colon = memchr(s, ':', (size_t)len);
        if (colon == NULL || colon == s) goto decline;
        Py_ssize_t name_len = colon - s;
        if (name_len > (Py_ssize_t)sizeof(lowered)) goto decline;
        for (Py_ssize_t k = 0; k < name_len; k++) {
            unsigned char c = (unsigned char)s[k];
            if (!tchar[c] || c == '_') goto decline;
            lowered[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
        }
        const char *v = colon + 1, *end = s + len;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
        PyObject *name = PyBytes_FromStringAndSize(lowered, name_len);
        if (name == NULL) goto error;
        PyObject *value = PyBytes_FromStringAndSize(v, end - v);
        if (value == NULL) { Py_DECREF(name); goto error; }
        PyObject *pair = PyTuple_Pack(2, name, value);
        if (pair == NULL) { Py_DECREF(name); Py_DECREF(value); goto error; }
        PyList_SET_ITEM(headers, i, pair); /* steals the reference to pair */
        int special = PySet_Contains(special_names, name);
        if (special < 0) { Py_DECREF(name); Py_DECREF(value); goto error; }
        if (special) {
            PyObject *values = PyDict_GetItemWithError(specials, name); /* borrowed */
            if (values == NULL) {
                if (PyErr_Occurred()) { Py_DECREF(name); Py_DECREF(value); goto error; }
                values = PyList_New(0);
                if (values == NULL || PyDict_SetItem(specials, name, values) < 0) {
                    Py_XDECREF(values); Py_DECREF(name); Py_DECREF(value); goto error;
                }
                Py_DECREF(values); /* the dict holds it */
            }
            if (PyList_Append(values, value) < 0) { Py_DECREF(name); Py_DECREF(value); goto error; }
        }
        Py_DECREF(name);
        Py_DECREF(value);
    }
    PyObject *result = PyTuple_Pack(2, headers, specials);
    Py_DECREF(headers);
    Py_DECREF(specials);
    return result;

decline:
    Py_DECREF(headers);
    Py_DECREF(specials);
    Py_RETURN_NONE;
error:
    Py_XDECREF(headers);
    Py_XDECREF(specials);
    return NULL;
}

static PyMethodDef methods[] = {
    {"split_fields", split_fields, METH_VARARGS,
     "split_fields(lines, special_names) -> (headers, specials) or None (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "carbonplane.http._speedups",
    "Compiled fast paths of the HTTP rules; the pure-Python rules stay the specification.", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    init_tables();
    return PyModule_Create(&module);
}
