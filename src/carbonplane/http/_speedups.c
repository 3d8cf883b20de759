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
 *
 * parse_response_head and parse_request_head below answer whole heads under the same contract.
 *
 * head_bytes(first, headers, drop, last) -> bytes | None
 *
 *   hop.head_bytes_py: ``first`` + "name: value\r\n" for every (name, value) pair whose name is
 *   not in the frozenset ``drop`` + ``last``. None when a pair is not a 2-tuple of bytes or an
 *   argument has another type: the caller runs its Python loop. (A peer's Connection nominations
 *   are not applied here: the parsers removed them before any filter added fields.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static unsigned char tchar[256];      /* RFC 9110 tchar (rules.TOKEN_CHARS) */
static unsigned char vchar[256];      /* a byte allowed inside a head line: VCHAR, obs-text, SP, HTAB */
static unsigned char targetchar[256]; /* a raw byte of a request target (path._TARGET_FLAGS) */
static unsigned char hostchar[256];   /* a byte of a Host value (rules.HOST_CHARS) */

static void init_tables(void) {
    const char *extra = "!#$%&'*+-.^_`|~", *host_extra = "-._~!$&'()*+,;=:[]%";
    for (int c = '0'; c <= '9'; c++) tchar[c] = hostchar[c] = 1;
    for (int c = 'a'; c <= 'z'; c++) tchar[c] = hostchar[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++) tchar[c] = hostchar[c] = 1;
    for (const char *p = extra; *p; p++) tchar[(unsigned char)*p] = 1;
    for (const char *p = host_extra; *p; p++) hostchar[(unsigned char)*p] = 1;
    for (int c = 0x20; c < 0x7F; c++) vchar[c] = 1;
    for (int c = 0x80; c < 0x100; c++) vchar[c] = 1;
    vchar['\t'] = 1;
    for (int c = 0x21; c < 0x7F; c++) targetchar[c] = 1;  /* printable ASCII but space, '#', '\\' */
    targetchar['#'] = targetchar['\\'] = 0;
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

/* A lowercased field name equals ``word``. */
static int name_is(const char *lowered, Py_ssize_t len, const char *word) {
    return len == (Py_ssize_t)strlen(word) && memcmp(lowered, word, (size_t)len) == 0;
}

/* A (name, value) pair of new bytes objects, or NULL with an exception set. */
static PyObject *field_pair(const char *name, Py_ssize_t name_len, const char *v, Py_ssize_t v_len) {
    PyObject *pair = PyTuple_New(2), *item;
    if (pair == NULL) return NULL;
    if ((item = PyBytes_FromStringAndSize(name, name_len)) == NULL) goto fail;
    PyTuple_SET_ITEM(pair, 0, item);
    if ((item = PyBytes_FromStringAndSize(v, v_len)) == NULL) goto fail;
    PyTuple_SET_ITEM(pair, 1, item);
    return pair;
fail:
    Py_DECREF(pair);
    return NULL;
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

/* A new list of the (name, value) pairs of ``headers`` whose name is not ``name``; NULL with an
 * exception set. */
static PyObject *without_field(PyObject *headers, const char *name) {
    Py_ssize_t n = PyList_GET_SIZE(headers), len = (Py_ssize_t)strlen(name);
    PyObject *kept = PyList_New(0);
    if (kept == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i), *field = PyTuple_GET_ITEM(pair, 0);
        if (PyBytes_GET_SIZE(field) == len && memcmp(PyBytes_AS_STRING(field), name, (size_t)len) == 0)
            continue;
        if (PyList_Append(kept, pair) < 0) {
            Py_DECREF(kept);
            return NULL;
        }
    }
    return kept;
}

/* parse_response_head(raw, request_method, max_headers)
 *     -> (status, reason, version, headers, framing, content_length, keep_alive, connection) | None
 *
 *   The common case of headparser.ResponseHeadParser.parse: "HTTP/1.1" or "HTTP/1.0", three digits
 *   and an optional reason; token field names without '_' (lowercased), values stripped of SP/HTAB;
 *   at most one Content-Length (1-18 digits), no Transfer-Encoding, at most one Connection field whose
 *   value is "keep-alive" or "close" (``connection`` is that value lowercased, else None); the fields
 *   that value nominates (a Keep-Alive field; a field named Close) are left out of ``headers``, as
 *   rules.without_nominated does. Framing as rules.response_framing (0 none, 1 length, 3 until
 *   close). Everything else returns None and the Python rules decide. ``raw`` is one head ending
 *   with CRLFCRLF, as the reader passes it. */
/* Called once per upstream response, hence METH_FASTCALL and no format strings. */
static PyObject *parse_response_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "parse_response_head(raw: bytes, request_method: bytes, max_headers: int)");
        return NULL;
    }
    const char *raw = PyBytes_AS_STRING(args[0]), *method = PyBytes_AS_STRING(args[1]);
    Py_ssize_t raw_len = PyBytes_GET_SIZE(args[0]), method_len = PyBytes_GET_SIZE(args[1]);
    Py_ssize_t max_headers = PyLong_AsSsize_t(args[2]);
    if (max_headers == -1 && PyErr_Occurred()) return NULL;
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
    int cl_count = 0, conn_count = 0, keep_alive_fields = 0, close_fields = 0;
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
        if (name_is(lowered, name_len, "transfer-encoding")) goto decline;
        if (name_is(lowered, name_len, "content-length")) { cl = v; cl_len = ve - v; cl_count++; }
        if (name_is(lowered, name_len, "connection")) { conn = v; conn_len = ve - v; conn_count++; }
        keep_alive_fields += name_is(lowered, name_len, "keep-alive");
        close_fields += name_is(lowered, name_len, "close");
        PyObject *pair = field_pair(lowered, name_len, v, (Py_ssize_t)(ve - v));
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
        if ((keep_alive ? keep_alive_fields : close_fields) > 0) {  /* fields it nominates */
            PyObject *kept = without_field(headers, connection);
            if (kept == NULL) goto error;
            Py_SETREF(headers, kept);
        }
    }
    PyObject *result = PyTuple_New(8), *item;
    if (result == NULL) goto error;
    PyTuple_SET_ITEM(result, 3, headers);  /* the result owns headers from here */
    PyObject *values[8] = {
        PyLong_FromLong(status), PyBytes_FromStringAndSize(reason, (Py_ssize_t)(eol - reason)),
        PyBytes_FromStringAndSize(http10 ? "1.0" : "1.1", 3), NULL, PyLong_FromLong(framing),
        PyLong_FromLongLong(length), PyBool_FromLong(keep_alive),
        connection ? PyBytes_FromString(connection) : Py_NewRef(Py_None)};
    for (int i = 0; i < 8; i++) {
        if (i == 3) continue;
        if ((item = values[i]) == NULL) {  /* free what was made, then the result */
            for (int k = i + 1; k < 8; k++) if (k != 3) Py_XDECREF(values[k]);
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, i, item);
    }
    return result;

decline:
    Py_DECREF(headers);
    Py_RETURN_NONE;
error:
    Py_DECREF(headers);
    return NULL;
}

/* The request line [raw, eol) of the request fast path: "METHOD SP target SP HTTP/1.1" with a
 * token method other than CONNECT (405 in the rules) and an origin-form target of raw target bytes
 * whose path (before the first '?') normalize_path returns unchanged: no '%', "/." or "//". 1 with
 * the target at [*target, *target_end) and its query (from the '?', or empty) at
 * [*query, *target_end); 0 to decline. Every byte it accepts is a VCHAR. */
static int split_request_line(const char *raw, const char *eol, const char **target,
                              const char **query, const char **target_end) {
    const char *sp = memchr(raw, ' ', (size_t)(eol - raw));
    if (sp == NULL || sp == raw || (sp - raw == 7 && memcmp(raw, "CONNECT", 7) == 0)) return 0;
    for (const char *c = raw; c < sp; c++)
        if (!tchar[(unsigned char)*c]) return 0;
    const char *t = sp + 1, *c = t, *q = NULL;
    if (c == eol || *c != '/') return 0;
    for (; c < eol && targetchar[(unsigned char)*c]; c++) {  /* stops at the space before the version */
        if (q != NULL) continue;  /* the query is only checked for its bytes */
        if (*c == '?') q = c;
        else if (*c == '%' || (*c == '/' && (c[1] == '.' || c[1] == '/'))) return 0;  /* c[1] <= eol */
    }
    if (eol - c != 9 || memcmp(c, " HTTP/1.1", 9) != 0) return 0;
    *target = t;
    *target_end = c;
    *query = q != NULL ? q : c;
    return 1;
}

/* parse_request_head(raw, max_headers) -> (method, target, path, query, headers, host) | None
 *
 *   The common case of headparser.RequestHeadParser.parse_py, which llhttp still validates in the
 *   caller: the request line of split_request_line above (HTTP/1.1, so path + query == target);
 *   at most ``max_headers`` field lines, each split as split_line does; exactly one Host field whose
 *   value is non-empty, of rules.HOST_CHARS and does not start with ':'; no Content-Length,
 *   Transfer-Encoding, Connection or Expect field (framing none, keep-alive, no expectation); every
 *   byte but the CRLF line ends a VCHAR, obs-text, SP or HTAB (rules.check_raw_head). Everything
 *   else, a non-bytes ``raw`` included, returns None and parse_py decides. ``raw`` is one head
 *   ending with CRLFCRLF, as the reader passes it. Called once per request, hence METH_FASTCALL.
 *
 *   Pass 1 checks the whole head and allocates nothing, so a decline has nothing to free; pass 2
 *   builds the answer from the lines pass 1 accepted. */
static PyObject *parse_request_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "parse_request_head(raw, max_headers) takes 2 arguments");
        return NULL;
    }
    Py_ssize_t max_headers = PyLong_AsSsize_t(args[1]);
    if (max_headers == -1 && PyErr_Occurred()) return NULL;
    if (!PyBytes_CheckExact(args[0])) Py_RETURN_NONE;
    const char *raw = PyBytes_AS_STRING(args[0]);
    Py_ssize_t raw_len = PyBytes_GET_SIZE(args[0]);
    if (raw_len < 18 || memcmp(raw + raw_len - 4, "\r\n\r\n", 4) != 0) Py_RETURN_NONE;
    const char *end = raw + raw_len - 2; /* the final empty line's CRLF */
    const char *eol = memchr(raw, '\r', (size_t)(end - raw));
    const char *target, *query, *target_end;
    if (eol == NULL || eol[1] != '\n' || !split_request_line(raw, eol, &target, &query, &target_end))
        Py_RETURN_NONE;

    /* pass 1: every field line, and the one Host value */
    const char *line, *le, *v, *ve, *host = NULL;
    Py_ssize_t n = 0, name_len;
    char lowered[MAX_NAME];
    for (line = eol + 2; line < end; line = le + 2) {  /* ``end`` is the final empty line */
        le = memchr(line, '\r', (size_t)(end - line));
        if (le == NULL || le[1] != '\n' || le == line || ++n > max_headers) Py_RETURN_NONE;
        for (const char *c = line; c < le; c++)
            if (!vchar[(unsigned char)*c]) Py_RETURN_NONE;  /* CTL, bare LF */
        if (!split_line(line, le, lowered, &name_len, &v, &ve)) Py_RETURN_NONE;
        if (name_is(lowered, name_len, "host")) {
            if (host != NULL || v == ve || *v == ':') Py_RETURN_NONE;
            for (const char *c = v; c < ve; c++)
                if (!hostchar[(unsigned char)*c]) Py_RETURN_NONE;
            host = v;
        } else if (name_is(lowered, name_len, "content-length") || name_is(lowered, name_len, "connection")
                   || name_is(lowered, name_len, "transfer-encoding") || name_is(lowered, name_len, "expect")) {
            Py_RETURN_NONE;  /* framing, persistence and expectations: the rules decide */
        }
    }
    if (host == NULL) Py_RETURN_NONE;

    /* pass 2: the answer. A list or tuple frees whatever items it holds, so on an error only the
     * outermost container is released. */
    PyObject *headers = PyList_New(n), *host_value = NULL, *item;
    if (headers == NULL) return NULL;
    Py_ssize_t i = 0;
    for (line = eol + 2; line < end; line = le + 2, i++) {
        le = memchr(line, '\r', (size_t)(end - line));
        split_line(line, le, lowered, &name_len, &v, &ve);  /* accepted in pass 1 */
        PyObject *pair = field_pair(lowered, name_len, v, ve - v);
        if (pair == NULL) goto error;
        PyList_SET_ITEM(headers, i, pair);
        if (v == host) host_value = PyTuple_GET_ITEM(pair, 1);  /* the same object, as in the rules */
    }
    PyObject *result = PyTuple_New(6);
    if (result == NULL) goto error;
    PyTuple_SET_ITEM(result, 4, headers);  /* the result owns headers from here */
    Py_INCREF(host_value);
    PyTuple_SET_ITEM(result, 5, host_value);
    if ((item = PyBytes_FromStringAndSize(raw, target - 1 - raw)) == NULL) goto fail;
    PyTuple_SET_ITEM(result, 0, item);
    if ((item = PyBytes_FromStringAndSize(target, target_end - target)) == NULL) goto fail;
    PyTuple_SET_ITEM(result, 1, item);
    if (query == target_end) {  /* no query: the path is the target, as split_target returns it */
        Py_INCREF(item);
        PyTuple_SET_ITEM(result, 2, item);
        if ((item = PyBytes_FromStringAndSize(NULL, 0)) == NULL) goto fail;
    } else {
        if ((item = PyBytes_FromStringAndSize(target, query - target)) == NULL) goto fail;
        PyTuple_SET_ITEM(result, 2, item);
        if ((item = PyBytes_FromStringAndSize(query, target_end - query)) == NULL) goto fail;
    }
    PyTuple_SET_ITEM(result, 3, item);
    return result;

fail:
    Py_DECREF(result);
    return NULL;
error:
    Py_DECREF(headers);
    return NULL;
}

/* ---- head serialisation ----------------------------------------------------------------- */

static int pair_of(PyObject *item, PyObject **name, PyObject **value) {
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) return 0;
    *name = PyTuple_GET_ITEM(item, 0);
    *value = PyTuple_GET_ITEM(item, 1);
    return PyBytes_CheckExact(*name) && PyBytes_CheckExact(*value);
}

static PyObject *head_bytes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "head_bytes(first, headers, drop, last)");
        return NULL;
    }
    if (!PyBytes_CheckExact(args[0]) || !PyList_CheckExact(args[1]) || !PyAnySet_Check(args[2]) ||
        !PyBytes_CheckExact(args[3]))
        Py_RETURN_NONE; /* the caller's Python loop handles (or refuses) other types */
    PyObject *headers = args[1], *drop = args[2], *last = args[3];
    Py_ssize_t n = PyList_GET_SIZE(headers), total = PyBytes_GET_SIZE(args[0]) + PyBytes_GET_SIZE(last);
    char keep_small[64];
    char *keep = n <= 64 ? keep_small : PyMem_Malloc(n);
    if (keep == NULL) return PyErr_NoMemory();
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *value;
        if (!pair_of(PyList_GET_ITEM(headers, i), &name, &value)) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        int dropped = PySet_Contains(drop, name);
        if (dropped < 0) goto done;
        keep[i] = !dropped;
        if (!dropped) total += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4;
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) goto done;
    char *out = PyBytes_AS_STRING(result);
    memcpy(out, PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]));
    out += PyBytes_GET_SIZE(args[0]);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!keep[i]) continue;
        PyObject *item = PyList_GET_ITEM(headers, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        memcpy(out, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        out += PyBytes_GET_SIZE(name);
        *out++ = ':';
        *out++ = ' ';
        memcpy(out, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
        out += PyBytes_GET_SIZE(value);
        *out++ = '\r';
        *out++ = '\n';
    }
    memcpy(out, PyBytes_AS_STRING(last), PyBytes_GET_SIZE(last));
done:
    if (keep != keep_small) PyMem_Free(keep);
    return result;
}

static PyMethodDef methods[] = {
    {"head_bytes", (PyCFunction)(void (*)(void))head_bytes, METH_FASTCALL,
     "head_bytes(first, headers, drop, last) -> bytes or None (see the module source)"},
    {"parse_request_head", (PyCFunction)(void (*)(void))parse_request_head, METH_FASTCALL,
     "parse_request_head(raw, max_headers) -> tuple or None (see the module source)"},
    {"parse_response_head", (PyCFunction)(void (*)(void))parse_response_head, METH_FASTCALL,
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
