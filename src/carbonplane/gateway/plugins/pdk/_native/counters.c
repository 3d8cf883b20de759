/* The counter table's check-and-count step (counters.CounterTable.take) in C: the native
 * version of counters.py's ``_take_locked``, which is the specification (it runs where this
 * module is not built, and tests/.../test_rate_limit_counters.py runs every case on both).
 *   take(mm, lock_fd, values, cells, located, locate, now_ms[, amount]) -> (admitted, usages)
 *   | None
 * - amount: what each counter grows by when admitted (default 1);
 * - mm: the writable table; values: byte offset of the value region; layout in layout.h;
 * - lock_fd: the file to flock, or -1 for a table of this process only (anonymous memory);
 * - cells: (name, expires_ms, limit, prev_name | None, prev_weight) per window;
 * - located: the table's cache name -> (digest, probe window offset); locate(name) fills it;
 * - None: a new counter found no free slot (the caller raises CounterStoreFull); nothing was
 *   counted then.
 * Every name is located before the lock is taken. Under the lock no Python code runs and the
 * GIL is never released, so the step is atomic for the threads of this process as well as
 * across processes; the result objects are built after the unlock. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <string.h>
#include <sys/file.h>

#include "layout.h"

typedef struct {
    const char *key;      /* 16-byte digest */
    Py_ssize_t slot;      /* first slot of its probe window */
    const char *prev_key; /* NULL when no sliding estimate */
    Py_ssize_t prev_slot;
    long long expires, limit, usage;
    double weight;
    Py_ssize_t at; /* slot of the live or expired counter, or -1 */
} cell_t;

static PyObject *locate_one(PyObject *located, PyObject *locate, PyObject *name,
                            const char **key, Py_ssize_t *slot) {
    PyObject *found = PyDict_GetItemWithError(located, name); /* borrowed */
    if (found != NULL) {
        Py_INCREF(found);
    } else {
        if (PyErr_Occurred()) return NULL;
        found = PyObject_CallOneArg(locate, name);
        if (found == NULL) return NULL;
    }
    PyObject *digest, *start;
    if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 2 ||
        !PyBytes_Check(digest = PyTuple_GET_ITEM(found, 0)) ||
        PyBytes_GET_SIZE(digest) != KEY_SIZE || !PyLong_Check(start = PyTuple_GET_ITEM(found, 1))) {
        Py_DECREF(found);
        PyErr_SetString(PyExc_TypeError, "locate() must give (16-byte digest, offset)");
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(start);
    if (offset == -1 && PyErr_Occurred()) {
        Py_DECREF(found);
        return NULL;
    }
    *key = PyBytes_AS_STRING(digest);
    *slot = (offset - HEADER_SIZE) / KEY_SIZE;
    return found; /* a new reference: keeps the digest alive */
}

static Py_ssize_t find_key(const char *keys, const char *key, Py_ssize_t first) {
    for (Py_ssize_t s = first; s < first + PROBE; s++)
        if (memcmp(keys + s * KEY_SIZE, key, KEY_SIZE) == 0) return s;
    return -1;
}

static void read_value(const char *values, Py_ssize_t slot, long long *expires, long long *count) {
    memcpy(expires, values + slot * VALUE_SIZE, 8);
    memcpy(count, values + slot * VALUE_SIZE + 8, 8);
}

static void write_value(char *values, Py_ssize_t slot, long long expires, long long count) {
    memcpy(values + slot * VALUE_SIZE, &expires, 8);
    memcpy(values + slot * VALUE_SIZE + 8, &count, 8);
}

/* Under the lock: 1 admitted, 0 refused, -1 full (nothing written). */
static int take_locked(char *buf, Py_ssize_t values_at, cell_t *cells, Py_ssize_t n,
                       long long now, long long amount) {
    const char *keys = buf + HEADER_SIZE;
    char *values = buf + values_at;
    int admitted = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        cell_t *c = &cells[i];
        long long expires, count, usage = 0;
        c->at = find_key(keys, c->key, c->slot);
        if (c->at >= 0) {
            read_value(values, c->at, &expires, &count);
            if (expires > now) usage = count;
        }
        if (c->prev_key != NULL && c->weight > 0.0) {
            Py_ssize_t p = find_key(keys, c->prev_key, c->prev_slot);
            if (p >= 0) {
                read_value(values, p, &expires, &count);
                if (expires > now) usage += (long long)((double)count * c->weight);
            }
        }
        c->usage = usage;
        if (usage >= c->limit) admitted = 0;
    }
    if (!admitted) return 0;
    Py_ssize_t fresh[MAX_CELLS];
    for (Py_ssize_t i = 0; i < n; i++) { /* free slots for new counters, before any write */
        fresh[i] = -1;
        if (cells[i].at >= 0) continue;
        for (Py_ssize_t s = cells[i].slot; s < cells[i].slot + PROBE && fresh[i] < 0; s++) {
            long long expires, count;
            read_value(values, s, &expires, &count);
            if (expires > now) continue;
            int taken = 0; /* given to another new counter, or rewritten by this take */
            for (Py_ssize_t j = 0; j < n; j++) taken |= (j < i && fresh[j] == s) || cells[j].at == s;
            if (!taken) fresh[i] = s;
        }
        if (fresh[i] < 0) return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        cell_t *c = &cells[i];
        if (c->at >= 0) {
            long long expires, count;
            read_value(values, c->at, &expires, &count);
            write_value(values, c->at, c->expires, expires > now ? count + amount : amount);
        } else {
            memcpy(buf + HEADER_SIZE + fresh[i] * KEY_SIZE, c->key, KEY_SIZE);
            write_value(values, fresh[i], c->expires, amount);
        }
    }
    return 1;
}

static int lock_fd(int fd, int op) {
    if (fd < 0) return 0; /* a table of this process only: the GIL is the lock */
    while (flock(fd, op) != 0) {
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

static PyObject *take(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 && nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "take(mm, lock_fd, values, cells, located, locate, now_ms[, amount])");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[1]);
    Py_ssize_t values_at = PyLong_AsSsize_t(args[2]);
    long long now = PyLong_AsLongLong(args[6]);
    long long amount = nargs == 8 ? PyLong_AsLongLong(args[7]) : 1;
    if (PyErr_Occurred()) return NULL;
    PyObject *cell_seq = args[3], *located = args[4], *locate = args[5];
    if (!PyList_Check(cell_seq) && !PyTuple_Check(cell_seq)) {
        PyErr_SetString(PyExc_TypeError, "cells must be a list or tuple");
        return NULL;
    }
    if (!PyDict_Check(located)) {
        PyErr_SetString(PyExc_TypeError, "located must be a dict");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(cell_seq);
    if (n > MAX_CELLS) {
        PyErr_Format(PyExc_ValueError, "at most %d windows per take", MAX_CELLS);
        return NULL;
    }
    cell_t cells[MAX_CELLS];
    PyObject *keep[2 * MAX_CELLS];
    Py_ssize_t kept = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(cell_seq, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
            PyErr_SetString(PyExc_TypeError,
                            "a cell is (name, expires_ms, limit, prev_name, prev_weight)");
            goto done;
        }
        cell_t *c = &cells[i];
        PyObject *found = locate_one(located, locate, PyTuple_GET_ITEM(item, 0), &c->key, &c->slot);
        if (found == NULL) goto done;
        keep[kept++] = found;
        c->expires = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 1));
        c->limit = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 2));
        c->weight = PyFloat_AsDouble(PyTuple_GET_ITEM(item, 4));
        if (PyErr_Occurred()) goto done;
        c->prev_key = NULL;
        PyObject *prev = PyTuple_GET_ITEM(item, 3);
        if (prev != Py_None && c->weight > 0.0) {
            found = locate_one(located, locate, prev, &c->prev_key, &c->prev_slot);
            if (found == NULL) goto done;
            keep[kept++] = found;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE) != 0) goto done;
    Py_ssize_t limit = view.len - values_at;
    for (Py_ssize_t i = 0; i < n; i++) { /* every probe window inside the mapping */
        Py_ssize_t last = cells[i].slot + PROBE;
        if (cells[i].prev_key != NULL && cells[i].prev_slot + PROBE > last)
            last = cells[i].prev_slot + PROBE;
        if (cells[i].slot < 0 || (cells[i].prev_key != NULL && cells[i].prev_slot < 0) ||
            HEADER_SIZE + last * KEY_SIZE > values_at || last * VALUE_SIZE > limit) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_ValueError, "a probe window lies outside the store");
            goto done;
        }
    }
    if (lock_fd(fd, LOCK_EX) != 0) {
        PyBuffer_Release(&view);
        goto done;
    }
    int outcome = take_locked((char *)view.buf, values_at, cells, n, now, amount);
    int unlocked = lock_fd(fd, LOCK_UN);
    PyBuffer_Release(&view);
    if (unlocked != 0) goto done;
    if (outcome < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *usages = PyList_New(n);
    if (usages == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *u = PyLong_FromLongLong(cells[i].usage);
        if (u == NULL) {
            Py_DECREF(usages);
            goto done;
        }
        PyList_SET_ITEM(usages, i, u);
    }
    result = PyTuple_Pack(2, outcome ? Py_True : Py_False, usages);
    Py_DECREF(usages);
done:
    for (Py_ssize_t i = 0; i < kept; i++) Py_DECREF(keep[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
     "Check-and-count one request's windows under the table's lock (see counters.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "carbonplane.gateway.plugins.pdk._native.counters",
    "The counter table's check-and-count step in C (see counters.py).", -1, methods,
};

PyMODINIT_FUNC PyInit_counters(void) { return PyModule_Create(&module); }
