/* Kong's log record line in C, for file-log: the native version of log_serializer.py's
 * ``encode(serialize(ctx)) + b"\n"``, which is the specification (tests compare both on the
 * same requests, through the ``impl`` fixture).
 *
 * log_line(..., out) -> bytes | int | None
 *
 *   The record's JSON plus "\n", from the record's values (see log_serializer._native_line for
 *   the arguments); returned as bytes when ``out`` is None, else appended to the bytearray
 *   ``out`` (the number of bytes appended is returned). Texts come as latin-1 bytes or 1-byte
 *   str, JSON parts already encoded (querystring, tries, entities) as bytes-like objects. Header
 *   maps are written as msgspec encodes ``header_map``'s dict (authorization and
 *   proxy-authorization of the request "REDACTED"). None for what it does not write (a repeated
 *   header name, a pair that is not a 2-tuple of bytes, a wider str): the caller then writes
 *   the specification's line. Layout constants (the workspace id) come from layout.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "layout.h"

static int pair_of(PyObject *item, PyObject **name, PyObject **value) {
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) return 0;
    *name = PyTuple_GET_ITEM(item, 0);
    *value = PyTuple_GET_ITEM(item, 1);
    return PyBytes_CheckExact(*name) && PyBytes_CheckExact(*value);
}

/* ---- header maps as JSON (msgspec's encoding of latin-1 text) ------------------------------ */

/* a decimal integer (what "%lld" writes, without the libc call) */
static char *put_int(char *out, long long v) {
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *out++ = '-';
    while (n) *out++ = digits[--n];
    return out;
}

/* 1: a byte JSON writes as it is (printable ASCII other than '"' and '\\') */
static unsigned char plain[256];

static void init_plain(void) {
    for (int c = 0x20; c < 0x80; c++) plain[c] = c != '"' && c != '\\';
}

static char *json_body(char *out, const unsigned char *s, Py_ssize_t n) {
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t run = i;
        while (run < n && plain[s[run]]) run++;
        if (run > i) { /* a run of plain bytes: copied as is */
            memcpy(out, s + i, run - i);
            out += run - i;
            i = run;
            if (i == n) break;
        }
        unsigned char c = s[i++];
        if (c >= 0x80) {
            *out++ = (char)(0xC0 | (c >> 6));
            *out++ = (char)(0x80 | (c & 0x3F));
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
        } else {
            *out++ = '\\';
            switch (c) {
            case '"': *out++ = '"'; break;
            case '\\': *out++ = '\\'; break;
            case '\b': *out++ = 'b'; break;
            case '\f': *out++ = 'f'; break;
            case '\n': *out++ = 'n'; break;
            case '\r': *out++ = 'r'; break;
            case '\t': *out++ = 't'; break;
            default:
                *out++ = 'u'; *out++ = '0'; *out++ = '0';
                *out++ = hex[c >> 4]; *out++ = hex[c & 15];
            }
        }
    }
    return out;
}

/* a JSON string of latin-1 text, as msgspec writes it (UTF-8, short escapes, \u00xx) */
static char *json_put(char *out, const unsigned char *s, Py_ssize_t n) {
    *out++ = '"';
    out = json_body(out, s, n);
    *out++ = '"';
    return out;
}

static int is_credential(PyObject *name) {
    Py_ssize_t n = PyBytes_GET_SIZE(name);
    const char *s = PyBytes_AS_STRING(name);
    return (n == 13 && memcmp(s, "authorization", 13) == 0) ||
           (n == 19 && memcmp(s, "proxy-authorization", 19) == 0);
}

/* ---- Kong's log record ------------------------------------------------------------------ */

typedef struct {
    char *start, *at, *end;
} writer_t;

/* latin-1 text of a bytes object or a 1-byte str; 0: neither */
static int text_of(PyObject *o, const unsigned char **s, Py_ssize_t *n) {
    if (PyBytes_Check(o)) {
        *s = (const unsigned char *)PyBytes_AS_STRING(o);
        *n = PyBytes_GET_SIZE(o);
        return 1;
    }
    if (PyUnicode_Check(o) && PyUnicode_IS_READY(o) && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND) {
        *s = PyUnicode_1BYTE_DATA(o);
        *n = PyUnicode_GET_LENGTH(o);
        return 1;
    }
    return 0;
}

static int w_reserve(writer_t *w, Py_ssize_t more) {
    if (w->end - w->at >= more) return 0;
    Py_ssize_t used = w->at - w->start, size = (w->end - w->start) * 2 + more;
    char *grown = PyMem_Realloc(w->start, size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->start = grown;
    w->at = grown + used;
    w->end = grown + size;
    return 0;
}

static int w_raw(writer_t *w, const char *s, Py_ssize_t n) {
    if (w_reserve(w, n) < 0) return -1;
    memcpy(w->at, s, n);
    w->at += n;
    return 0;
}

#define W_LIT(w, lit) w_raw((w), (lit), (Py_ssize_t)sizeof(lit) - 1)

static int w_text(writer_t *w, const unsigned char *s, Py_ssize_t n) {
    if (w_reserve(w, 6 * n + 2) < 0) return -1;
    w->at = json_put(w->at, s, n);
    return 0;
}

/* a bytes (decoded as latin-1) or a 1-byte str as a JSON string; with ``str_only`` bytes are
 * refused (msgspec would write them as base64); refused: *ok = 0 (the caller declines) */
static int w_string(writer_t *w, PyObject *o, int str_only, int *ok) {
    const unsigned char *s;
    Py_ssize_t n;
    if ((str_only && !PyUnicode_Check(o)) || !text_of(o, &s, &n)) {
        *ok = 0;
        return 0;
    }
    return w_text(w, s, n);
}

static int w_int(writer_t *w, PyObject *o) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (w_reserve(w, 24) < 0) return -1;
    w->at = put_int(w->at, v);
    return 0;
}

static int w_buffer(writer_t *w, PyObject *o) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) return -1;
    int r = w_raw(w, view.buf, view.len);
    PyBuffer_Release(&view);
    return r;
}

/* the headers object of a list of (bytes, bytes) without repeated names, and its line bytes */
static int w_headers(writer_t *w, PyObject *headers, int redact, Py_ssize_t *size, int *ok) {
    if (!PyList_CheckExact(headers)) {
        *ok = 0;
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(headers);
    *size = 0;
    if (W_LIT(w, "{") < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *value;
        if (!pair_of(PyList_GET_ITEM(headers, i), &name, &value)) {
            *ok = 0;
            return 0;
        }
        Py_ssize_t nl = PyBytes_GET_SIZE(name);
        for (Py_ssize_t j = 0; j < i; j++) {
            PyObject *other = PyTuple_GET_ITEM(PyList_GET_ITEM(headers, j), 0);
            if (PyBytes_GET_SIZE(other) == nl && memcmp(PyBytes_AS_STRING(other), PyBytes_AS_STRING(name), nl) == 0) {
                *ok = 0;
                return 0;
            }
        }
        *size += nl + PyBytes_GET_SIZE(value) + 4;
        if ((i && W_LIT(w, ",") < 0) ||
            w_text(w, (const unsigned char *)PyBytes_AS_STRING(name), nl) < 0 || W_LIT(w, ":") < 0)
            return -1;
        if (redact && is_credential(name)) {
            if (W_LIT(w, "\"REDACTED\"") < 0) return -1;
        } else if (w_text(w, (const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)) < 0) {
            return -1;
        }
    }
    return W_LIT(w, "}");
}

enum {
    A_ID, A_URI, A_URL, A_QUERY, A_METHOD, A_REQ_HEADERS, A_REQ_FIRST, A_REQ_BODY, A_UP_URI,
    A_UPSTREAM, A_STATUS, A_RESP_HEADERS, A_RESP_BODY, A_KONG, A_PROXY, A_REQUEST, A_TRIES,
    A_CLIENT_IP, A_STARTED, A_ROUTE, A_SERVICE, A_CONSUMER, A_AUTH, A_CORRELATION, A_OUT, A_COUNT
};

static int write_record(writer_t *w, PyObject *const *a, int *ok) {
    Py_ssize_t size;
    int upstream = PyObject_IsTrue(a[A_UPSTREAM]);
    long long req_first = PyLong_AsLongLong(a[A_REQ_FIRST]);
    long long req_body = PyLong_AsLongLong(a[A_REQ_BODY]);
    if (upstream < 0 || PyErr_Occurred()) return -1;
#define STEP(call) do { if ((call) < 0) return -1; if (!*ok) return 0; } while (0)
    STEP(W_LIT(w, "{\"request\":{\"id\":"));
    STEP(w_string(w, a[A_ID], 0, ok));
    STEP(W_LIT(w, ",\"uri\":"));
    STEP(w_string(w, a[A_URI], 0, ok));
    STEP(W_LIT(w, ",\"url\":"));
    /* url: prefix + uri, one JSON string */
    const unsigned char *p, *u;
    Py_ssize_t pn, un;
    if (!PyUnicode_Check(a[A_URL]) || !text_of(a[A_URL], &p, &pn) || !text_of(a[A_URI], &u, &un)) {
        *ok = 0;
        return 0;
    }
    if (w_reserve(w, 6 * (pn + un) + 2) < 0) return -1;
    *w->at++ = '"';
    w->at = json_body(w->at, p, pn);
    w->at = json_body(w->at, u, un);
    *w->at++ = '"';
    STEP(W_LIT(w, ",\"querystring\":"));
    STEP(w_buffer(w, a[A_QUERY]));
    STEP(W_LIT(w, ",\"method\":"));
    STEP(w_string(w, a[A_METHOD], 0, ok));
    STEP(W_LIT(w, ",\"headers\":"));
    STEP(w_headers(w, a[A_REQ_HEADERS], 1, &size, ok));
    STEP(W_LIT(w, ",\"size\":"));
    if (w_reserve(w, 24) < 0) return -1;
    w->at = put_int(w->at, (long long)size + req_first + 2 + req_body);
    STEP(W_LIT(w, "},\"upstream_uri\":"));
    STEP(w_string(w, a[A_UP_URI], 0, ok));
    STEP(W_LIT(w, ",\"upstream_status\":\""));
    if (upstream) STEP(w_int(w, a[A_STATUS]));
    STEP(W_LIT(w, "\",\"response\":{\"status\":"));
    STEP(w_int(w, a[A_STATUS]));
    STEP(W_LIT(w, ",\"headers\":"));
    if (a[A_RESP_HEADERS] == Py_None) {
        STEP(W_LIT(w, "{},\"size\":0"));
    } else {
        long long body = PyLong_AsLongLong(a[A_RESP_BODY]);
        if (body == -1 && PyErr_Occurred()) return -1;
        STEP(w_headers(w, a[A_RESP_HEADERS], 0, &size, ok));
        if (w_reserve(w, 40) < 0) return -1;
        memcpy(w->at, ",\"size\":", 8);
        w->at = put_int(w->at + 8, (long long)size + 19 + body);
    }
    STEP(W_LIT(w, "},\"latencies\":{\"kong\":"));
    STEP(w_int(w, a[A_KONG]));
    STEP(W_LIT(w, ",\"proxy\":"));
    STEP(w_int(w, a[A_PROXY]));
    STEP(W_LIT(w, ",\"request\":"));
    STEP(w_int(w, a[A_REQUEST]));
    STEP(W_LIT(w, ",\"receive\":0},\"tries\":"));
    STEP(w_buffer(w, a[A_TRIES]));
    STEP(W_LIT(w, ",\"client_ip\":"));
    STEP(w_string(w, a[A_CLIENT_IP], 1, ok));
    STEP(W_LIT(w, ",\"started_at\":"));
    STEP(w_int(w, a[A_STARTED]));
    if (upstream) STEP(W_LIT(w, ",\"source\":\"upstream\""));
    else STEP(W_LIT(w, ",\"source\":\"kong\""));
    STEP(W_LIT(w, ",\"workspace\":\"" WORKSPACE_ID "\",\"workspace_name\":\"default\",\"route\":"));
    STEP(w_buffer(w, a[A_ROUTE]));
    STEP(W_LIT(w, ",\"service\":"));
    STEP(w_buffer(w, a[A_SERVICE]));
    if (a[A_CONSUMER] != Py_None) {
        STEP(W_LIT(w, ",\"consumer\":"));
        STEP(w_buffer(w, a[A_CONSUMER]));
    }
    if (a[A_AUTH] != Py_None) {
        STEP(W_LIT(w, ",\"authenticated_entity\":"));
        STEP(w_buffer(w, a[A_AUTH]));
    }
    if (a[A_CORRELATION] != Py_None) {
        STEP(W_LIT(w, ",\"correlation_id\":"));
        STEP(w_string(w, a[A_CORRELATION], 1, ok));
    }
    STEP(W_LIT(w, "}\n"));
#undef STEP
    return 0;
}

static PyObject *log_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != A_COUNT) {
        PyErr_Format(PyExc_TypeError, "log_line takes %d arguments (see log_serializer._c_line)", A_COUNT);
        return NULL;
    }
    /* one scratch buffer for the process, grown as needed (the GIL serialises calls; a call
     * re-entered through an argument's Python code gets a buffer of its own) */
    static char *scratch = NULL;
    static Py_ssize_t scratch_size = 0;
    static int busy = 0;
    writer_t w;
    int own = busy || scratch == NULL;
    if (own) {
        w.start = PyMem_Malloc(8192);
        if (w.start == NULL) return PyErr_NoMemory();
        w.end = w.start + 8192;
    } else {
        w.start = scratch;
        w.end = scratch + scratch_size;
        busy = 1;
    }
    w.at = w.start;
    int ok = 1;
    PyObject *result = NULL;
    PyObject *out = args[A_OUT];
    if (write_record(&w, args, &ok) == 0) {
        if (!ok) {
            result = Py_NewRef(Py_None);
        } else if (out == Py_None) {
            result = PyBytes_FromStringAndSize(w.start, w.at - w.start);
        } else if (PyByteArray_CheckExact(out)) { /* appended where the batch collects */
            Py_ssize_t have = PyByteArray_GET_SIZE(out), len = w.at - w.start;
            if (PyByteArray_Resize(out, have + len) == 0) {
                memcpy(PyByteArray_AS_STRING(out) + have, w.start, len);
                result = PyLong_FromSsize_t(len);
            }
        } else {
            PyErr_SetString(PyExc_TypeError, "log_line's out must be a bytearray or None");
        }
    }
    if (!own) {
        scratch = w.start; /* w_reserve may have moved it */
        scratch_size = w.end - w.start;
        busy = 0;
    } else if (scratch == NULL && !busy) {
        scratch = w.start; /* the first call's buffer becomes the scratch buffer */
        scratch_size = w.end - w.start;
    } else {
        PyMem_Free(w.start);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"log_line", (PyCFunction)(void (*)(void))log_line, METH_FASTCALL,
     "log_line(..., out) -> bytes, int or None: Kong's log record and a newline (see the module source)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "carbonplane.gateway.plugins.pdk._native.records",
    "Kong's log record in C; log_serializer.py stays the specification.", -1, methods,
};

PyMODINIT_FUNC PyInit_records(void) {
    init_plain();
    return PyModule_Create(&module);
}
