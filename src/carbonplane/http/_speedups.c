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

static unsigned char tchar[256];  /* RFC 9110 tchar (rules.TOKEN_CHARS) */
static unsigned char vchar[256];  /* a byte allowed inside a head line: VCHAR, obs-text, SP, HTAB */

static void init_tables(void) {
    const char *extra = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; c++) tchar[c] = 1;
    for (int c = 'a'; c <= 'z'; c++) tchar[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++) tchar[c] = 1;
    for (const char *p = extra; *p; p++) tchar[(unsigned char)*p] = 1;
    for (int c = 0x20; c < 0x7F; c++) vchar[c] = 1;
    for (int c = 0x80; c < 0x100; c++) vchar[c] = 1;
    vchar['\t'] = 1;
}

#define MAX_NAME 256

/* One header line [s, end): 1 with the name lowercased into ``lowered`` (``*name_len`` bytes) and the
 * value, stripped of SP/HTAB, at [*v, *ve); 0 to decline it (no colon, an empty, over-long or
 * non-token name, or '_' in it). The one place both functions below split a line. */
static int split_line(const char *s, const char *end, char *lowered, Py_ssize_t *name_len,
                      const char **v, const char **ve) {
    const char *colon = memchr(s, ':', (size_t)(end - s));
    if (colon == NULL || colon == s || colon - s > MAX_NAME) return 0;
    *name_len = colon - s;
    for (Py_ssize_t k = 0; k < *name_len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!tchar[c] || c == '_') return 0;
        lowered[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
    }
    const char *a = colon + 1, *b = end;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    *v = a;
    *ve = b;
    return 1;
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
    char lowered[MAX_NAME];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyBytes_CheckExact(line)) goto decline;
        const char *s = PyBytes_AS_STRING(line), *v, *ve;
        Py_ssize_t name_len;
        if (!split_line(s, s + PyBytes_GET_SIZE(line), lowered, &name_len, &v, &ve)) goto decline;
        PyObject *name = PyBytes_FromStringAndSize(lowered, name_len);
        if (name == NULL) goto error;
        PyObject *value = PyBytes_FromStringAndSize(v, ve - v);
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

static int parse_length(const char *s, Py_ssize_t len, long long *out) {
    if (len < 1 || len > 18) return 0;
    long long n = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return 1;
}

static int lower_equals(const char *s, Py_ssize_t len, const char *word) {
    Py_ssize_t wl = (Py_ssize_t)strlen(word);
    if (len != wl) return 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != word[i]) return 0;
    }
    return 1;
}

/* parse_response_head(raw, request_method, max_headers)
 *     -> (status, reason, version, headers, framing, content_length, keep_alive, connection) | None
 *
 *   The common case of headparser.ResponseHeadParser.parse: "HTTP/1.1" or "HTTP/1.0", three digits
 *   and an optional reason; token field names without '_' (lowercased), values stripped of SP/HTAB;
 *   at most one Content-Length (1-18 digits), no Transfer-Encoding, at most one Connection field whose
 *   value is "keep-alive" or "close" (``connection`` is that value lowercased, else None). Framing as
 *   rules.response_framing (0 none, 1 length, 3 until close). Everything else returns None and the
 *   Python rules decide. ``raw`` is one head ending with CRLFCRLF, as the reader passes it. */
static PyObject *parse_response_head(PyObject *self, PyObject *args) {
    const char *raw, *method;
    Py_ssize_t raw_len, method_len, max_headers;
    if (!PyArg_ParseTuple(args, "y#y#n", &raw, &raw_len, &method, &method_len, &max_headers)) return NULL;
    if (raw_len < 16 || memcmp(raw + raw_len - 4, "\r\n\r\n", 4) != 0) Py_RETURN_NONE;
    const char *end = raw + raw_len - 2; /* the final empty line's CRLF */
    /* status line */
    const char *eol = memchr(raw, '\r', (size_t)(end - raw));
    if (eol == NULL || eol[1] != '\n') Py_RETURN_NONE;
    if (eol - raw < 12 || memcmp(raw, "HTTP/1.", 7) != 0 || (raw[7] != '1' && raw[7] != '0') || raw[8] != ' ')
        Py_RETURN_NONE;
    for (int i = 9; i < 12; i++)
        if (raw[i] < '0' || raw[i] > '9') Py_RETURN_NONE;
    if (eol - raw > 12 && raw[12] != ' ') Py_RETURN_NONE;
    for (const char *c = raw; c < eol; c++)
        if (!vchar[(unsigned char)*c]) Py_RETURN_NONE;
    int status = (raw[9] - '0') * 100 + (raw[10] - '0') * 10 + (raw[11] - '0');
    int http10 = raw[7] == '0';
    const char *reason = eol - raw > 12 ? raw + 13 : eol;

    PyObject *headers = PyList_New(0);
    if (headers == NULL) return NULL;
    const char *cl = NULL, *conn = NULL;
    Py_ssize_t cl_len = 0, conn_len = 0;
    int cl_count = 0, conn_count = 0;
    char lowered[MAX_NAME];
    const char *line = eol + 2;
    while (line < end) {  /* header lines; ``end`` is the final empty line */
        const char *le = memchr(line, '\r', (size_t)(end - line));
        if (le == NULL || le[1] != '\n' || le == line) goto decline;  /* bare CR, or an empty line */
        if (PyList_GET_SIZE(headers) >= max_headers) goto decline;
        for (const char *c = line; c < le; c++)
            if (!vchar[(unsigned char)*c]) goto decline;
        const char *v, *ve;
        Py_ssize_t name_len;
        if (!split_line(line, le, lowered, &name_len, &v, &ve)) goto decline;
        if (name_len == 17 && memcmp(lowered, "transfer-encoding", 17) == 0) goto decline;
        if (name_len == 14 && memcmp(lowered, "content-length", 14) == 0) { cl = v; cl_len = ve - v; cl_count++; }
        if (name_len == 10 && memcmp(lowered, "connection", 10) == 0) { conn = v; conn_len = ve - v; conn_count++; }
        PyObject *pair = Py_BuildValue("(y#y#)", lowered, name_len, v, (Py_ssize_t)(ve - v));
        if (pair == NULL) goto error;
        int failed = PyList_Append(headers, pair);
        Py_DECREF(pair);
        if (failed < 0) goto error;
        line = le + 2;
    }
    long long length = 0;
    int framing;
    if (cl_count > 1 || (cl_count == 1 && !parse_length(cl, cl_len, &length))) goto decline;
    if ((method_len == 4 && memcmp(method, "HEAD", 4) == 0) || status < 200 || status == 204 || status == 304) {
        framing = 0;
        length = 0;
    } else if (cl_count) {
        framing = length ? 1 : 0;
    } else {
        framing = 3;
    }
    const char *connection = NULL;
    int keep_alive = !http10;
    if (conn_count > 1) goto decline;
    if (conn_count == 1) {
        if (lower_equals(conn, conn_len, "keep-alive")) { connection = "keep-alive"; keep_alive = 1; }
        else if (lower_equals(conn, conn_len, "close")) { connection = "close"; keep_alive = 0; }
        else goto decline;
    }
    PyObject *result = Py_BuildValue(
        "(iy#y#NiLOy)", status, reason, (Py_ssize_t)(eol - reason), http10 ? "1.0" : "1.1", (Py_ssize_t)3,
        headers, framing, length, keep_alive ? Py_True : Py_False, connection);
    return result; /* "N" handed our reference to headers to the tuple */

decline:
    Py_DECREF(headers);
    Py_RETURN_NONE;
error:
    Py_DECREF(headers);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse_response_head", parse_response_head, METH_VARARGS,
     "parse_response_head(raw, request_method, max_headers) -> tuple or None (see the module source)"},
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
