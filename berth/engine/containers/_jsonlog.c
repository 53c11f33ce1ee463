/* The json-file log's common case at C speed: a block of whole lines, every one of them
 * a plain entry of one stream,
 *
 *     {"log":"PAYLOAD\n","stream":"NAME","time":"TIME"}
 *
 * (PAYLOAD without a backslash or a quote: nothing to unescape), becomes its payloads,
 * each with its newline: exactly what json.loads gives for each line. Anything else (an escape, a partial line, another stream, a
 * malformed line) gives None, and the caller decodes the block line by line with json.
 * The scan is memchr and memcmp over a buffer of known length, without the GIL.
 * logs.py's regex path is the reference; the tests hold the two to the same output. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const char HEAD[] = "{\"log\":\"";
#define HEAD_LEN 8
static const char MID1[] = "\\n\",\"stream\":\"";
#define MID1_LEN 14
static const char MID2[] = "\",\"time\":\"";
#define MID2_LEN 10

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether [p, end) may stand in a JSON string as it is (json.loads would read it back
 * as the same bytes): no control character, and UTF-8 that is valid (no overlong form,
 * no surrogate, nothing above U+10FFFF). Eight bytes at a time while they are printable
 * ASCII, which is nearly always. */
static int json_clean(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            /* a byte >= 0x80, or one < 0x20 (w - 0x20.. borrows into its high bit) */
            if (((w | ((w - 0x20 * ONES) & ~w)) & HIGHS) == 0) {
                p += 8;
                continue;
            }
        }
        unsigned c = *p;
        if (c < 0x20)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F; /* not a surrogate */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return 0;
        if (end - p <= n || p[1] < lo || p[1] > hi)
            return 0;
        for (int i = 2; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n + 1;
    }
    return 1;
}

/* Copy the payloads of [p, end) into out; the bytes written, or -1 if a line is not a
 * plain entry of `name`. out has room for end - p bytes (a payload is shorter). */
static Py_ssize_t scan(const char *p, const char *end, const char *name, Py_ssize_t name_len,
                       char *out)
{
    char *o = out;
    const Py_ssize_t fixed = MID1_LEN + name_len + MID2_LEN;
    if (p == end)
        return -1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl - p < HEAD_LEN || memcmp(p, HEAD, HEAD_LEN) != 0)
            return -1;
        const char *q = p + HEAD_LEN;
        const char *bs = memchr(q, '\\', (size_t)(nl - q));
        if (bs == NULL || memchr(q, '"', (size_t)(bs - q)) != NULL ||
            !json_clean((const unsigned char *)q, (const unsigned char *)bs))
            return -1;
        /* after the payload: MID1, the name, MID2, the time, then "} and the newline */
        if (nl - bs < fixed + 2 || memcmp(bs, MID1, MID1_LEN) != 0 ||
            memcmp(bs + MID1_LEN, name, (size_t)name_len) != 0 ||
            memcmp(bs + MID1_LEN + name_len, MID2, MID2_LEN) != 0)
            return -1;
        const char *t = bs + fixed;
        if (nl[-1] != '}' || nl[-2] != '"' || nl - 2 < t ||
            memchr(t, '"', (size_t)(nl - 2 - t)) != NULL ||
            memchr(t, '\\', (size_t)(nl - 2 - t)) != NULL ||
            !json_clean((const unsigned char *)t, (const unsigned char *)nl - 2))
            return -1;
        memcpy(o, q, (size_t)(bs - q));
        o += bs - q;
        *o++ = '\n';
        p = nl + 1;
    }
    return o - out;
}

static PyObject *plain_payload(PyObject *self, PyObject *args)
{
    Py_buffer block, name;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*", &block, &name))
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, block.len);
    if (out == NULL) {
        PyBuffer_Release(&block);
        PyBuffer_Release(&name);
        return NULL;
    }
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = scan((const char *)block.buf, (const char *)block.buf + block.len,
             (const char *)name.buf, name.len, PyBytes_AS_STRING(out));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    PyBuffer_Release(&name);
    if (n < 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&out, n) < 0)
        return NULL;
    return out;
}

static PyMethodDef methods[] = {
    {"plain_payload", plain_payload, METH_VARARGS,
     "plain_payload(block, stream_name) -> the payloads of a block of plain entries of that "
     "stream, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jsonlog", "json-file log blocks at C speed (see logs.py)", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsonlog(void) { return PyModule_Create(&module); }
