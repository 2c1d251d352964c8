/* safetensors reader and writer.
 *
 * The header is parsed by a small hand-written JSON parser that accepts only
 * what the format needs: one object mapping tensor names to
 * {"dtype","shape","data_offsets"} objects, plus an optional "__metadata__"
 * object of string values. Anything else is rejected with one error, because
 * a file we half-understand is worse than a file we refuse.
 *
 * The parser is an entry point for fuzzing: every read is bounds-checked
 * against the header length, nothing recurses on input depth, and every
 * integer is checked for overflow before use. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vsml/log.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

/* Tensor data is copied to and from memory as-is, so the host byte order must
 * match the file's little-endian order. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vsml-vk supports only little-endian hosts (safetensors data is little-endian)"
#endif
#endif

/* Same limit as the reference implementation: a larger header is a sign of
 * a corrupt or hostile file, not of a real model. */
#define ST_MAX_HEADER 100000000ull

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [VSML_F32] = {"F32", 4}, [VSML_I32] = {"I32", 4}, [VSML_U8] = {"U8", 1},
    [VSML_F64] = {"F64", 8}, [VSML_I64] = {"I64", 8},
};

static bool dtype_valid(enum vsml_dtype dt)
{
    return (unsigned)dt < VSML_ARRAY_SIZE(dtype_info);
}

size_t vsml_dtype_size(enum vsml_dtype dt)
{
    return dtype_valid(dt) ? dtype_info[dt].size : 0;
}

const char *vsml_dtype_name(enum vsml_dtype dt)
{
    return dtype_valid(dt) ? dtype_info[dt].name : "?";
}

static int dtype_from_name(const char *s, enum vsml_dtype *dt)
{
    for (unsigned i = 0; i < VSML_ARRAY_SIZE(dtype_info); i++) {
        if (strcmp(s, dtype_info[i].name) == 0) {
            *dt = (enum vsml_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* ---- shared checks ------------------------------------------------------ */

/* Length of the strictly valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if invalid. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static bool utf8_valid(const char *str)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Byte size of a tensor, or -1 when the shape is negative or its element
 * count overflows. The product of the non-zero dimensions must fit too, so
 * that callers can multiply any subset of dimensions without overflow. */
static int shape_nbytes(enum vsml_dtype dt, int ndim, const int64_t *shape, uint64_t *out)
{
    uint64_t count = 1;
    bool empty = false;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return -1;
        if (shape[d] == 0) {
            empty = true;
            continue;
        }
        if (count > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return -1;
        count *= (uint64_t)shape[d];
    }
    uint64_t size = vsml_dtype_size(dt);
    if (count > (uint64_t)INT64_MAX / size || count * size > SIZE_MAX)
        return -1;
    *out = empty ? 0 : count * size;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns a name that occurs twice among names[0..n), or NULL. Sorting keeps
 * this O(n log n) so that a header with millions of entries stays fast. */
static const char *find_duplicate(const char **names, int n)
{
    if (n < 2)
        return NULL;
    qsort(names, (size_t)n, sizeof(*names), cmp_str_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

/* ---- JSON header parser ------------------------------------------------- */

typedef struct span {
    uint64_t begin, end;
    int index; /* position in the header, to keep sorting deterministic */
} span;

typedef struct parser {
    const uint8_t *s; /* the header text */
    size_t n, pos;
    char err[512]; /* the first error only: later ones are consequences */
    vsml_st st;
    span *spans; /* parallel to st.tensors */
    int cap_tensors, cap_meta;
} parser;

static int p_fail(parser *p, const char *fmt, ...) VSML_PRINTF(2, 3);
static int p_fail(parser *p, const char *fmt, ...)
{
    if (p->err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof(p->err), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A syntax error: say where, and what was found there. */
static int p_syntax(parser *p, const char *expected)
{
    if (p->pos >= p->n)
        return p_fail(p, "bad header JSON: expected %s but the header ends at byte %zu",
                      expected, p->pos);
    uint8_t c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return p_fail(p, "bad header JSON at byte %zu: expected %s, found '%c'", p->pos,
                      expected, c);
    return p_fail(p, "bad header JSON at byte %zu: expected %s, found byte 0x%02x", p->pos,
                  expected, c);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->n) {
        uint8_t c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Skips whitespace; consumes c and returns true if it comes next. */
static bool accept(parser *p, char c)
{
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (uint8_t)c) {
        p->pos++;
        return true;
    }
    return false;
}

static int expect(parser *p, char c)
{
    if (accept(p, c))
        return 0;
    char what[4] = {'\'', c, '\'', '\0'};
    return p_syntax(p, what);
}

/* The value of 4 hex digits at s[at..at+4), or -1 if they are not there. */
static int32_t hex4(const parser *p, size_t at, size_t end)
{
    if (at > end || end - at < 4)
        return -1;
    int32_t v = 0;
    for (size_t i = at; i < at + 4; i++) {
        uint8_t c = p->s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a \uXXXX escape (and its low surrogate, if any); *i is at the
 * backslash and is left after the last hex digit. */
static int unicode_escape(parser *p, size_t *i, size_t end, uint32_t *cp)
{
    size_t at = *i;
    int32_t hi = hex4(p, at + 2, end);
    if (hi < 0)
        return p_fail(p, "bad header JSON at byte %zu: \\u needs 4 hex digits", at);
    *i += 6;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return p_fail(p, "bad header JSON at byte %zu: unpaired low surrogate \\u%04X", at,
                      (unsigned)hi);
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        int32_t lo = end - *i >= 2 && p->s[*i] == '\\' && p->s[*i + 1] == 'u'
                         ? hex4(p, *i + 2, end)
                         : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return p_fail(p, "bad header JSON at byte %zu: unpaired high surrogate \\u%04X",
                          at, (unsigned)hi);
        *i += 6;
        hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (hi == 0)
        return p_fail(p, "bad header JSON at byte %zu: \\u0000 is not allowed in a string", at);
    *cp = (uint32_t)hi;
    return 0;
}

static int simple_escape(parser *p, size_t at, uint8_t e, char *out)
{
    switch (e) {
    case '"': *out = '"'; return 0;
    case '\\': *out = '\\'; return 0;
    case '/': *out = '/'; return 0;
    case 'b': *out = '\b'; return 0;
    case 'f': *out = '\f'; return 0;
    case 'n': *out = '\n'; return 0;
    case 'r': *out = '\r'; return 0;
    case 't': *out = '\t'; return 0;
    default:
        if (e >= 0x20 && e < 0x7f)
            return p_fail(p, "bad header JSON at byte %zu: unknown escape '\\%c'", at, e);
        return p_fail(p, "bad header JSON at byte %zu: unknown escape '\\' 0x%02x", at, e);
    }
}

/* Decodes s[begin, end) (the text between the quotes) into o, which has room
 * for end - begin + 1 bytes: no escape decodes to more bytes than it takes. */
static int decode_string(parser *p, size_t begin, size_t end, char *o)
{
    size_t k = 0;
    for (size_t i = begin; i < end;) {
        uint8_t c = p->s[i];
        if (c == '\\') {
            uint8_t e = p->s[i + 1]; /* the scan guarantees i + 1 < end */
            if (e == 'u') {
                uint32_t cp = 0;
                if (unicode_escape(p, &i, end, &cp) != 0)
                    return -1;
                k += put_utf8(o + k, cp);
            } else {
                if (simple_escape(p, i, e, o + k) != 0)
                    return -1;
                k++;
                i += 2;
            }
        } else if (c < 0x20) {
            return p_fail(p, "bad header JSON at byte %zu: control character 0x%02x in a string",
                          i, c);
        } else {
            size_t len = utf8_seq_len(p->s + i, end - i);
            if (len == 0)
                return p_fail(p, "bad header JSON at byte %zu: invalid UTF-8 in a string", i);
            memcpy(o + k, p->s + i, len);
            k += len;
            i += len;
        }
    }
    o[k] = '\0';
    return 0;
}

/* Parses a string into a malloc'ed, NUL-terminated UTF-8 buffer. */
static int parse_string(parser *p, char **out)
{
    *out = NULL;
    skip_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '"')
        return p_syntax(p, "a string");
    size_t begin = p->pos + 1, end = begin;
    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n)
        return p_fail(p, "bad header JSON at byte %zu: unterminated string", p->pos);
    char *s = malloc(end - begin + 1);
    if (!s)
        return p_fail(p, "out of memory");
    if (decode_string(p, begin, end, s) != 0) {
        free(s);
        return -1;
    }
    p->pos = end + 1;
    *out = s;
    return 0;
}

/* A non-negative JSON integer that fits in int64. */
static int parse_uint(parser *p, uint64_t *out)
{
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == '-')
        return p_fail(p, "bad header JSON at byte %zu: negative number", p->pos);
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return p_syntax(p, "a non-negative integer");
    size_t start = p->pos;
    uint64_t v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = p->s[p->pos] - '0';
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return p_fail(p, "bad header JSON at byte %zu: integer too large", start);
        v = v * 10 + d;
        p->pos++;
    }
    if (p->pos - start > 1 && p->s[start] == '0')
        return p_fail(p, "bad header JSON at byte %zu: integer with a leading zero", start);
    if (p->pos < p->n &&
        (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return p_fail(p, "bad header JSON at byte %zu: expected an integer, found a "
                         "fraction or exponent", start);
    *out = v;
    return 0;
}

/* An array of at most max non-negative integers; `what` names it in errors. */
static int parse_uint_array(parser *p, uint64_t *vals, int max, int *count,
                            const char *name, const char *what)
{
    *count = 0;
    if (expect(p, '[') != 0)
        return -1;
    if (accept(p, ']'))
        return 0;
    do {
        uint64_t v = 0;
        if (parse_uint(p, &v) != 0)
            return -1;
        if (*count == max)
            return p_fail(p, "tensor '%s': %s has more than %d entries", name, what, max);
        vals[(*count)++] = v;
    } while (accept(p, ','));
    return expect(p, ']');
}

enum { KEY_DTYPE = 1, KEY_SHAPE = 2, KEY_OFFSETS = 4 };

static int parse_tensor_field(parser *p, const char *key, vsml_tensor *t, span *sp)
{
    uint64_t vals[VSML_ST_MAX_DIMS];
    int count;
    if (strcmp(key, "dtype") == 0) {
        char *s;
        if (parse_string(p, &s) != 0)
            return -1;
        int rc = dtype_from_name(s, &t->dtype);
        if (rc != 0)
            p_fail(p, "tensor '%s': unsupported dtype \"%.32s\" (supported: F32, I32, U8, "
                      "F64, I64)", t->name, s);
        free(s);
        return rc;
    }
    if (strcmp(key, "shape") == 0) {
        if (parse_uint_array(p, vals, VSML_ST_MAX_DIMS, &count, t->name, "shape") != 0)
            return -1;
        t->ndim = count;
        for (int d = 0; d < count; d++)
            t->shape[d] = (int64_t)vals[d];
        return 0;
    }
    /* data_offsets */
    if (parse_uint_array(p, vals, 2, &count, t->name, "data_offsets") != 0)
        return -1;
    if (count != 2)
        return p_fail(p, "tensor '%s': data_offsets must have 2 entries, found %d", t->name,
                      count);
    sp->begin = vals[0];
    sp->end = vals[1];
    return 0;
}

static int tensor_key(const char *key)
{
    if (strcmp(key, "dtype") == 0)
        return KEY_DTYPE;
    if (strcmp(key, "shape") == 0)
        return KEY_SHAPE;
    if (strcmp(key, "data_offsets") == 0)
        return KEY_OFFSETS;
    return 0;
}

static int parse_tensor(parser *p, vsml_tensor *t, span *sp)
{
    int seen = 0;
    if (expect(p, '{') != 0)
        return -1;
    if (!accept(p, '}')) {
        do {
            char *key;
            if (parse_string(p, &key) != 0)
                return -1;
            int k = tensor_key(key);
            int rc = -1;
            if (k == 0)
                p_fail(p, "tensor '%s': unknown field \"%.32s\"", t->name, key);
            else if (seen & k)
                p_fail(p, "tensor '%s': field \"%s\" appears twice", t->name, key);
            else if (expect(p, ':') == 0)
                rc = parse_tensor_field(p, key, t, sp);
            free(key);
            if (rc != 0)
                return -1;
            seen |= k;
        } while (accept(p, ','));
        if (expect(p, '}') != 0)
            return -1;
    }
    if (seen != (KEY_DTYPE | KEY_SHAPE | KEY_OFFSETS))
        return p_fail(p, "tensor '%s': missing field \"%s\"", t->name,
                      !(seen & KEY_DTYPE) ? "dtype"
                      : !(seen & KEY_SHAPE) ? "shape"
                                            : "data_offsets");
    return 0;
}

static int grow(parser *p, void **arr, int *cap, int count, size_t elem)
{
    if (count < *cap)
        return 0;
    if (*cap > INT_MAX / 2)
        return p_fail(p, "too many header entries");
    int ncap = *cap ? *cap * 2 : 16;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return p_fail(p, "out of memory");
    *arr = n;
    *cap = ncap;
    return 0;
}

static int add_tensor(parser *p, char *name)
{
    vsml_st *st = &p->st;
    size_t len = strlen(name);
    if (len >= VSML_ST_MAX_NAME)
        return p_fail(p, "tensor name \"%.40s...\" is %zu bytes long (the limit is %d)", name,
                      len, VSML_ST_MAX_NAME - 1);
    int cap = p->cap_tensors;
    if (grow(p, (void **)&st->tensors, &cap, st->n_tensors, sizeof(vsml_tensor)) != 0)
        return -1;
    if (cap != p->cap_tensors) {
        span *ns = realloc(p->spans, (size_t)cap * sizeof(span));
        if (!ns)
            return p_fail(p, "out of memory");
        p->spans = ns;
        p->cap_tensors = cap;
    }
    vsml_tensor *t = &st->tensors[st->n_tensors];
    span *sp = &p->spans[st->n_tensors];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, len + 1);
    sp->index = st->n_tensors;
    if (parse_tensor(p, t, sp) != 0)
        return -1;
    st->n_tensors++;
    return 0;
}

static int parse_metadata(parser *p)
{
    vsml_st *st = &p->st;
    if (expect(p, '{') != 0)
        return -1;
    if (accept(p, '}'))
        return 0;
    do {
        if (grow(p, (void **)&st->meta, &p->cap_meta, st->n_meta, sizeof(vsml_st_meta)) != 0)
            return -1;
        vsml_st_meta *m = &st->meta[st->n_meta];
        m->key = m->value = NULL;
        if (parse_string(p, &m->key) != 0)
            return -1;
        st->n_meta++; /* counted now so that vsml_st_free releases the key */
        if (expect(p, ':') != 0)
            return -1;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] != '"')
            return p_fail(p, "metadata \"%.40s\": values must be strings (byte %zu)", m->key,
                          p->pos);
        if (parse_string(p, &m->value) != 0)
            return -1;
    } while (accept(p, ','));
    return expect(p, '}');
}

static int parse_header(parser *p)
{
    bool have_meta = false;
    if (expect(p, '{') != 0)
        return -1;
    if (!accept(p, '}')) {
        do {
            char *key;
            if (parse_string(p, &key) != 0)
                return -1;
            int rc = -1;
            if (expect(p, ':') != 0) {
                /* error recorded */
            } else if (strcmp(key, "__metadata__") != 0) {
                rc = add_tensor(p, key);
            } else if (have_meta) {
                p_fail(p, "\"__metadata__\" appears twice");
            } else {
                have_meta = true;
                rc = parse_metadata(p);
            }
            free(key);
            if (rc != 0)
                return -1;
        } while (accept(p, ','));
        if (expect(p, '}') != 0)
            return -1;
    }
    skip_ws(p);
    if (p->pos != p->n)
        return p_fail(p, "bad header JSON at byte %zu: unexpected characters after the "
                         "header object", p->pos);
    return 0;
}

/* ---- semantic checks ---------------------------------------------------- */

static int check_names(parser *p)
{
    vsml_st *st = &p->st;
    int n = st->n_tensors > st->n_meta ? st->n_tensors : st->n_meta;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof(*names));
    if (!names)
        return p_fail(p, "out of memory");
    for (int i = 0; i < st->n_tensors; i++)
        names[i] = st->tensors[i].name;
    const char *dup = find_duplicate(names, st->n_tensors);
    if (dup)
        p_fail(p, "tensor name \"%s\" appears twice", dup);
    for (int i = 0; !dup && i < st->n_meta; i++)
        names[i] = st->meta[i].key;
    if (!dup && (dup = find_duplicate(names, st->n_meta)) != NULL)
        p_fail(p, "metadata key \"%.60s\" appears twice", dup);
    free(names);
    return dup ? -1 : 0;
}

static int check_sizes(parser *p, uint64_t buf_len)
{
    for (int i = 0; i < p->st.n_tensors; i++) {
        vsml_tensor *t = &p->st.tensors[i];
        const span *sp = &p->spans[i];
        uint64_t nbytes;
        if (shape_nbytes(t->dtype, t->ndim, t->shape, &nbytes) != 0)
            return p_fail(p, "tensor '%s': shape is too large", t->name);
        if (sp->begin > sp->end)
            return p_fail(p, "tensor '%s': data_offsets [%llu, %llu] are reversed", t->name,
                          (unsigned long long)sp->begin, (unsigned long long)sp->end);
        if (sp->end - sp->begin != nbytes)
            return p_fail(p, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but "
                             "its shape and dtype need %llu", t->name,
                          (unsigned long long)sp->begin, (unsigned long long)sp->end,
                          (unsigned long long)(sp->end - sp->begin),
                          (unsigned long long)nbytes);
        if (sp->end > buf_len)
            return p_fail(p, "tensor '%s': data_offsets [%llu, %llu] go past the end of the "
                             "%llu-byte data buffer", t->name, (unsigned long long)sp->begin,
                          (unsigned long long)sp->end, (unsigned long long)buf_len);
        t->nbytes = (size_t)nbytes;
    }
    return 0;
}

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* The format requires the tensors to tile the data buffer exactly: no
 * overlaps (two tensors aliasing bytes), no holes and no trailing bytes
 * (both signs of a file that is not what its header claims). */
static int check_layout(parser *p, uint64_t buf_len)
{
    span *sp = p->spans;
    int n = p->st.n_tensors;
    if (n > 1)
        qsort(sp, (size_t)n, sizeof(*sp), cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *name = p->st.tensors[sp[i].index].name;
        if (sp[i].begin < at)
            return p_fail(p, "tensor '%s' overlaps tensor '%s' in the data buffer", name,
                          p->st.tensors[sp[i - 1].index].name);
        if (sp[i].begin > at)
            return p_fail(p, "bytes [%llu, %llu) of the data buffer belong to no tensor",
                          (unsigned long long)at, (unsigned long long)sp[i].begin);
        at = sp[i].end;
    }
    if (at != buf_len)
        return p_fail(p, "the data buffer has %llu byte(s) after the last tensor's data",
                      (unsigned long long)(buf_len - at));
    return 0;
}

/* Puts the tensors in data order and gives each its own copy of the data. */
static int copy_data(parser *p, const uint8_t *data)
{
    vsml_st *st = &p->st;
    vsml_tensor *sorted = malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof(*sorted));
    if (!sorted)
        return p_fail(p, "out of memory");
    for (int i = 0; i < st->n_tensors; i++)
        sorted[i] = st->tensors[p->spans[i].index];
    free(st->tensors);
    st->tensors = sorted;
    for (int i = 0; i < st->n_tensors; i++) {
        vsml_tensor *t = &st->tensors[i];
        /* never NULL, so callers may memcpy even an empty tensor */
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data)
            return p_fail(p, "out of memory");
        if (t->nbytes)
            memcpy(t->data, data + p->spans[i].begin, t->nbytes);
    }
    return 0;
}

static uint64_t load_le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/* The 8-byte header length of a file of len bytes whose first 8 (if it
 * has them) are b: its checks before the header is read. */
static int check_hlen(parser *p, const uint8_t *b, uint64_t len, uint64_t *hlen)
{
    if (len < 8)
        return p_fail(p, "file is %llu bytes, too short for the 8-byte header length",
                      (unsigned long long)len);
    *hlen = load_le64(b);
    if (*hlen > len - 8)
        return p_fail(p, "header length %llu exceeds file size %llu", (unsigned long long)*hlen,
                      (unsigned long long)len);
    if (*hlen > ST_MAX_HEADER)
        return p_fail(p, "header length %llu exceeds the limit of %llu bytes",
                      (unsigned long long)*hlen, ST_MAX_HEADER);
    return 0;
}

/* The header (hlen bytes at head) of a file whose data section has
 * data_len bytes: everything is checked before the data is read. */
static int parse_head(parser *p, const uint8_t *head, uint64_t hlen, uint64_t data_len)
{
    p->s = head;
    p->n = (size_t)hlen;
    if (parse_header(p) != 0 || check_names(p) != 0 || check_sizes(p, data_len) != 0 ||
        check_layout(p, data_len) != 0)
        return -1;
    return 0;
}

static int parse_file(parser *p, const uint8_t *buf, size_t len)
{
    uint64_t hlen = 0;
    if (check_hlen(p, buf, len, &hlen) != 0 || parse_head(p, buf + 8, hlen, len - 8 - hlen) != 0)
        return -1;
    return copy_data(p, buf + 8 + hlen);
}

int vsml_st_parse(const uint8_t *buf, size_t len, const char *what, vsml_st *out)
{
    parser p;
    memset(&p, 0, sizeof(p));
    memset(out, 0, sizeof(*out));
    if (!what)
        what = "safetensors data";
    if (parse_file(&p, buf, len) != 0) {
        vsml_err("%s: %s", what, p.err);
        vsml_st_free(&p.st);
        free(p.spans);
        return -1;
    }
    free(p.spans);
    *out = p.st;
    return 0;
}

/* Reads n bytes of f into a new buffer at *b (NULL for n = 0). */
static int read_part(FILE *f, const char *path, uint64_t n, uint8_t **b)
{
    *b = NULL;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / 2 || !(*b = malloc((size_t)n))) {
        vsml_err("out of memory reading %s (%llu bytes)", path, (unsigned long long)n);
        return -1;
    }
    if (fread(*b, 1, (size_t)n, f) != n) {
        vsml_err("cannot read %s: %s", path, ferror(f) ? strerror(errno) : "it changed while read");
        free(*b);
        *b = NULL;
        return -1;
    }
    return 0;
}

/* The file in three parts, each checked before the next is read: the
 * header length against the file's size, the header against the size of
 * the data section, then the data. A file that is not what it says it is
 * (a huge header length, a device such as /dev/zero) is refused without
 * reading it all. */
int vsml_st_read(const char *path, vsml_st *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) {
        vsml_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        vsml_err("%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    parser p;
    memset(&p, 0, sizeof(p));
    uint64_t len = (uint64_t)sb.st_size, hlen = 0;
    uint8_t b8[8] = {0}, *head = NULL, *data = NULL;
    int rc = -1;
    if (len >= 8 && fread(b8, 1, 8, f) != 8) {
        vsml_err("cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (check_hlen(&p, b8, len, &hlen) != 0)
        goto bad;
    if (read_part(f, path, hlen, &head) != 0)
        goto done;
    if (parse_head(&p, head, hlen, len - 8 - hlen) != 0)
        goto bad;
    if (read_part(f, path, len - 8 - hlen, &data) != 0)
        goto done;
    if (copy_data(&p, data) != 0)
        goto bad;
    *out = p.st;
    memset(&p.st, 0, sizeof(p.st));
    rc = 0;
    goto done;
bad:
    vsml_err("%s: %s", path, p.err);
done:
    vsml_st_free(&p.st);
    free(p.spans);
    free(head);
    free(data);
    fclose(f);
    return rc;
}

void vsml_st_free(vsml_st *st)
{
    if (!st)
        return;
    for (int i = 0; st->tensors && i < st->n_tensors; i++)
        free(st->tensors[i].data);
    free(st->tensors);
    for (int i = 0; st->meta && i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    memset(st, 0, sizeof(*st));
}

const vsml_tensor *vsml_st_find(const vsml_st *st, const char *name)
{
    for (int i = 0; st && name && i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *vsml_st_get_meta(const vsml_st *st, const char *key)
{
    for (int i = 0; st && key && i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->n < n) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->n < n)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_putu(sbuf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    sb_puts(b, tmp);
}

/* Only '"', '\\' and control characters need escaping; UTF-8 passes as is. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_putn(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_putn(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sb_putn(b, esc, 6);
        } else {
            sb_putn(b, (const char *)&c, 1);
        }
    }
    sb_putn(b, "\"", 1);
}

static int check_write_tensor(const char *path, const vsml_tensor *t)
{
    uint64_t nbytes;
    if (memchr(t->name, '\0', VSML_ST_MAX_NAME) == NULL) {
        vsml_err("%s: tensor name is not NUL-terminated within %d bytes", path,
                 VSML_ST_MAX_NAME);
        return -1;
    }
    const char *why = NULL;
    if (strcmp(t->name, "__metadata__") == 0)
        why = "the name is reserved";
    else if (!utf8_valid(t->name))
        why = "the name is not valid UTF-8";
    else if (!dtype_valid(t->dtype))
        why = "invalid dtype";
    else if (t->ndim < 0 || t->ndim > VSML_ST_MAX_DIMS)
        why = "invalid number of dimensions";
    else if (shape_nbytes(t->dtype, t->ndim, t->shape, &nbytes) != 0)
        why = "negative or too large shape";
    else if (nbytes != t->nbytes)
        why = "nbytes does not match shape and dtype";
    else if (t->nbytes > 0 && !t->data)
        why = "no data";
    if (why) {
        vsml_err("%s: cannot write tensor '%s': %s", path, t->name, why);
        return -1;
    }
    return 0;
}

static int check_write_args(const char *path, const vsml_tensor *tensors, int n_tensors,
                            const vsml_st_meta *meta, int n_meta)
{
    if (n_tensors < 0 || n_meta < 0 || (n_tensors > 0 && !tensors) || (n_meta > 0 && !meta)) {
        vsml_err("%s: invalid tensor or metadata list", path);
        return -1;
    }
    for (int i = 0; i < n_tensors; i++)
        if (check_write_tensor(path, &tensors[i]) != 0)
            return -1;
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) ||
            !utf8_valid(meta[i].value)) {
            vsml_err("%s: metadata entry %d is missing or not valid UTF-8", path, i);
            return -1;
        }
    }
    int n = n_tensors > n_meta ? n_tensors : n_meta;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof(*names));
    if (!names) {
        vsml_err("%s: out of memory", path);
        return -1;
    }
    for (int i = 0; i < n_tensors; i++)
        names[i] = tensors[i].name;
    const char *dup = find_duplicate(names, n_tensors);
    if (dup)
        vsml_err("%s: tensor name \"%s\" appears twice", path, dup);
    for (int i = 0; !dup && i < n_meta; i++)
        names[i] = meta[i].key;
    if (!dup && (dup = find_duplicate(names, n_meta)) != NULL)
        vsml_err("%s: metadata key \"%.60s\" appears twice", path, dup);
    free(names);
    return dup ? -1 : 0;
}

/* The JSON header, padded with spaces so that the data starts 8-aligned. */
static void build_header(sbuf *b, const vsml_tensor *tensors, int n_tensors,
                         const vsml_st_meta *meta, int n_meta)
{
    sb_puts(b, "{");
    if (n_meta > 0) {
        sb_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_puts(b, ",");
            sb_json_string(b, meta[i].key);
            sb_puts(b, ":");
            sb_json_string(b, meta[i].value);
        }
        sb_puts(b, n_tensors ? "}," : "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n_tensors; i++) {
        const vsml_tensor *t = &tensors[i];
        if (i)
            sb_puts(b, ",");
        sb_json_string(b, t->name);
        sb_puts(b, ":{\"dtype\":\"");
        sb_puts(b, vsml_dtype_name(t->dtype));
        sb_puts(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_puts(b, ",");
            sb_putu(b, (uint64_t)t->shape[d]);
        }
        sb_puts(b, "],\"data_offsets\":[");
        sb_putu(b, off);
        sb_puts(b, ",");
        off += t->nbytes;
        sb_putu(b, off);
        sb_puts(b, "]}");
    }
    sb_puts(b, "}");
    while ((8 + b->n) % 8 != 0)
        sb_puts(b, " ");
}

int vsml_st_write(const char *path, const vsml_tensor *tensors, int n_tensors,
                  const vsml_st_meta *meta, int n_meta)
{
    if (check_write_args(path, tensors, n_tensors, meta, n_meta) != 0)
        return -1;
    sbuf hdr = {0};
    build_header(&hdr, tensors, n_tensors, meta, n_meta);
    vsml_piece *pieces = malloc(((size_t)n_tensors + 2) * sizeof(*pieces));
    if (hdr.oom || !pieces) {
        vsml_err("%s: out of memory", path);
        free(hdr.p);
        free(pieces);
        return -1;
    }
    if (hdr.n > ST_MAX_HEADER) {
        vsml_err("%s: header of %zu bytes exceeds the limit of %llu", path, hdr.n,
                 ST_MAX_HEADER);
        free(hdr.p);
        free(pieces);
        return -1;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hdr.n >> (8 * i));
    int np = 0;
    pieces[np++] = (vsml_piece){len8, 8};
    pieces[np++] = (vsml_piece){hdr.p, hdr.n};
    for (int i = 0; i < n_tensors; i++)
        if (tensors[i].nbytes > 0)
            pieces[np++] = (vsml_piece){tensors[i].data, tensors[i].nbytes};
    int rc = vsml_write_pieces_atomic(path, pieces, np);
    free(hdr.p);
    free(pieces);
    return rc;
}
