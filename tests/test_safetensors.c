/* safetensors: round trip, byte-exact output against hand-built files, and
 * rejection (with exactly one error naming the source) of corrupt inputs. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_errors.h"
#include "vsml/log.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

static char tmpdir[64];

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Removes tmpdir, its files and its (empty) subdirectories. */
static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        tmp_path(p, sizeof(p), e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static int count_tmp_leftovers(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    *len = 0;
    if (vsml_read_file(path, 1 << 24, &buf, len) != 0)
        return NULL;
    return buf;
}

/* A file image: 8-byte little-endian length of json, json, then data. */
static uint8_t *build(const char *json, const void *data, size_t dlen, size_t *len)
{
    size_t h = strlen(json);
    *len = 8 + h + dlen;
    uint8_t *b = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    if (dlen)
        memcpy(b + 8 + h, data, dlen);
    return b;
}

static int st_is_zero(const vsml_st *st)
{
    return st->n_tensors == 0 && st->tensors == NULL && st->n_meta == 0 && st->meta == NULL;
}

static void expect_reject_buf(const uint8_t *buf, size_t len, const char *label)
{
    vsml_st st;
    memset(&st, 0xab, sizeof(st)); /* the parser must not trust *out */
    n_errors = 0;
    last_error[0] = '\0';
    int rc = vsml_st_parse(buf, len, "bad.safetensors", &st);
    CHECK(rc != 0, "%s: accepted", label);
    CHECK(n_errors == 1, "%s: %d errors logged", label, n_errors);
    CHECK(strstr(last_error, "bad.safetensors") != NULL, "%s: error '%s' does not name the file",
          label, last_error);
    CHECK(st_is_zero(&st), "%s: output not zeroed on failure", label);
    if (rc != 0)
        fprintf(stderr, "  rejected %-28s %s\n", label, last_error);
    vsml_st_free(&st);
    /* the same bytes as a file: vsml_st_read checks its parts before it
     * reads the next, and must come to the same verdict */
    char path[600];
    snprintf(path, sizeof(path), "%s/bad.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, len, f) == len && fclose(f) == 0, "%s: write %s", label, path);
    memset(&st, 0xab, sizeof(st));
    n_errors = 0;
    last_error[0] = '\0';
    CHECK(vsml_st_read(path, &st) != 0, "%s: accepted from a file", label);
    CHECK(n_errors == 1 && strstr(last_error, "bad.safetensors") != NULL,
          "%s: from a file, %d errors, last '%s'", label, n_errors, last_error);
    CHECK(st_is_zero(&st), "%s: output not zeroed on failure (file)", label);
    vsml_st_free(&st);
    remove(path);
}

static void expect_reject(const char *json, const void *data, size_t dlen, const char *label)
{
    size_t len;
    uint8_t *b = build(json, data, dlen, &len);
    expect_reject_buf(b, len, label);
    free(b);
}

static int parse_json(const char *json, const void *data, size_t dlen, vsml_st *st)
{
    size_t len;
    uint8_t *b = build(json, data, dlen, &len);
    int rc = vsml_st_parse(b, len, "good.safetensors", st);
    free(b);
    return rc;
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void)
{
    float a[6];
    for (int i = 0; i < 6; i++)
        a[i] = (float)i * 0.5f - 1.0f;
    int32_t b[4] = {-1, 0, 7, INT32_MAX};
    uint8_t c[5] = {0, 1, 2, 254, 255};
    double d[2] = {3.141592653589793, -1e300};
    int64_t e[1] = {-(INT64_C(1) << 62)};
    vsml_tensor t[6] = {
        {.name = "a", .dtype = VSML_F32, .ndim = 2, .shape = {2, 3}, .data = a, .nbytes = 24},
        {.name = "b\"\\q\n", .dtype = VSML_I32, .ndim = 1, .shape = {4}, .data = b, .nbytes = 16},
        {.name = "layer.\xc3\xa9\xf0\x9f\x98\x80", .dtype = VSML_U8, .ndim = 1, .shape = {5},
         .data = c, .nbytes = 5},
        {.name = "d", .dtype = VSML_F64, .ndim = 2, .shape = {1, 2}, .data = d, .nbytes = 16},
        {.name = "scalar", .dtype = VSML_I64, .ndim = 0, .data = e, .nbytes = 8},
        {.name = "empty", .dtype = VSML_F32, .ndim = 2, .shape = {0, 3}, .data = NULL, .nbytes = 0},
    };
    vsml_st_meta meta[3] = {
        {"format", "pt"},
        {"note", "line1\nline2 \"quoted\" back\\slash\ttab \xc3\xa9 \x01"},
        {"empty", ""},
    };
    char path[256];
    tmp_path(path, sizeof(path), "rt.safetensors");
    CHECK(vsml_st_write(path, t, 6, meta, 3) == 0, "write failed");

    size_t flen;
    uint8_t *raw = slurp(path, &flen);
    CHECK(raw != NULL && flen >= 8, "cannot read back");
    if (raw) {
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--)
            h = h << 8 | raw[i];
        CHECK((8 + h) % 8 == 0, "data starts at %llu, not 8-aligned", (unsigned long long)(8 + h));
        CHECK(flen == 8 + h + 24 + 16 + 5 + 16 + 8, "file is %zu bytes", flen);
        CHECK(raw[8 + h - 1] == ' ' || raw[8 + h - 1] == '}', "header ends with 0x%02x",
              raw[8 + h - 1]);
    }
    free(raw);

    vsml_st st;
    CHECK(vsml_st_read(path, &st) == 0, "read failed");
    CHECK(st.n_tensors == 6, "n_tensors %d", st.n_tensors);
    CHECK(st.n_meta == 3, "n_meta %d", st.n_meta);
    for (int i = 0; i < 6 && i < st.n_tensors; i++) {
        const vsml_tensor *r = &st.tensors[i];
        /* the writer lays tensors out in order, the reader returns data order */
        CHECK(strcmp(r->name, t[i].name) == 0, "tensor %d is '%s'", i, r->name);
        CHECK(r->dtype == t[i].dtype && r->ndim == t[i].ndim && r->nbytes == t[i].nbytes,
              "tensor %s: dtype/ndim/nbytes differ", t[i].name);
        CHECK(memcmp(r->shape, t[i].shape, sizeof(r->shape)) == 0, "tensor %s: shape", t[i].name);
        CHECK(r->data != NULL, "tensor %s: data is NULL", t[i].name);
        if (r->nbytes == t[i].nbytes && t[i].nbytes)
            CHECK(memcmp(r->data, t[i].data, t[i].nbytes) == 0, "tensor %s: data", t[i].name);
        CHECK(vsml_st_find(&st, t[i].name) == r, "find %s", t[i].name);
    }
    for (int i = 0; i < 3; i++) {
        const char *v = vsml_st_get_meta(&st, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "meta %s = '%s'", meta[i].key, v ? v : "(null)");
    }
    const vsml_tensor *ta = vsml_st_find(&st, "a");
    CHECK(ta && ((const float *)ta->data)[5] == 1.5f, "a[5]");
    CHECK(vsml_st_find(&st, "missing") == NULL, "found a missing tensor");
    CHECK(vsml_st_get_meta(&st, "missing") == NULL, "found a missing key");
    vsml_st_free(&st);
    CHECK(st_is_zero(&st), "free does not zero");
    vsml_st_free(&st); /* freeing twice is harmless */
}

/* ---- byte-exact output --------------------------------------------------- */

static void check_file_bytes(const char *path, const uint8_t *want, size_t want_len,
                             const char *label)
{
    size_t len;
    uint8_t *got = slurp(path, &len);
    CHECK(got && len == want_len, "%s: %zu bytes, want %zu", label, len, want_len);
    if (got && len == want_len)
        CHECK(memcmp(got, want, len) == 0, "%s: bytes differ", label);
    free(got);
}

static void test_exact_bytes(void)
{
    /* 79 bytes of JSON plus 1 space: the data starts at 8 + 80 = 88. */
    static const char hdr1[] =
        "{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}} ";
    static const uint8_t data1[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    CHECK(sizeof(hdr1) - 1 == 80, "hand-built header is %zu bytes", sizeof(hdr1) - 1);
    uint8_t want1[8 + 80 + 8] = {80, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want1 + 8, hdr1, 80);
    memcpy(want1 + 88, data1, 8);

    float w[2] = {1.0f, -2.0f};
    vsml_tensor t = {.name = "w", .dtype = VSML_F32, .ndim = 1, .shape = {2}, .data = w,
                     .nbytes = 8};
    vsml_st_meta m = {"k", "v"};
    char path[256];
    tmp_path(path, sizeof(path), "exact1.safetensors");
    CHECK(vsml_st_write(path, &t, 1, &m, 1) == 0, "write exact1");
    check_file_bytes(path, want1, sizeof(want1), "exact1");

    vsml_st st;
    CHECK(vsml_st_parse(want1, sizeof(want1), "exact1", &st) == 0, "parse exact1");
    const vsml_tensor *r = vsml_st_find(&st, "w");
    CHECK(r && r->dtype == VSML_F32 && r->ndim == 1 && r->shape[0] == 2 && r->nbytes == 8,
          "exact1 tensor");
    if (r && r->nbytes == 8) {
        CHECK(((const float *)r->data)[0] == 1.0f, "w[0]");
        CHECK(((const float *)r->data)[1] == -2.0f, "w[1]");
    }
    CHECK(st.n_meta == 1 && strcmp(vsml_st_get_meta(&st, "k"), "v") == 0, "exact1 meta");
    vsml_st_free(&st);

    /* no metadata: the key is omitted; 53 bytes of JSON plus 3 spaces */
    static const char hdr2[] =
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}   ";
    uint8_t want2[8 + 56 + 3] = {56, 0, 0, 0, 0, 0, 0, 0};
    memcpy(want2 + 8, hdr2, 56);
    want2[64] = 9;
    want2[65] = 8;
    want2[66] = 7;
    uint8_t u[3] = {9, 8, 7};
    vsml_tensor t2 = {.name = "w", .dtype = VSML_U8, .ndim = 1, .shape = {3}, .data = u,
                      .nbytes = 3};
    tmp_path(path, sizeof(path), "exact2.safetensors");
    CHECK(vsml_st_write(path, &t2, 1, NULL, 0) == 0, "write exact2");
    check_file_bytes(path, want2, sizeof(want2), "exact2");

    /* nothing at all: "{}" padded to 8 */
    static const uint8_t want3[16] = {8,   0,   0,   0,   0,   0,   0,   0,
                                      '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    tmp_path(path, sizeof(path), "exact3.safetensors");
    CHECK(vsml_st_write(path, NULL, 0, NULL, 0) == 0, "write exact3");
    check_file_bytes(path, want3, sizeof(want3), "exact3");
    CHECK(vsml_st_parse(want3, sizeof(want3), "exact3", &st) == 0 && st.n_tensors == 0 &&
              st.n_meta == 0,
          "parse exact3");
    vsml_st_free(&st);
}

/* ---- hand-written headers the parser must accept ------------------------- */

static void test_accepts(void)
{
    vsml_st st;
    uint8_t d3[3] = {1, 2, 3};
    /* whitespace everywhere, fields in any order, escapes, \u with a
     * surrogate pair, metadata after the tensors */
    const char *json = " {\r\n\t\"a\\u00e9\\ud83d\\ude00\\/\" : { \"shape\" : [ 3 ] , "
                       "\"data_offsets\" : [0, 3], \"dtype\":\"U8\" } ,\n"
                       " \"__metadata__\": {\"x\\\"y\":\"\\\\n\\t\\u0041\"} } ";
    CHECK(parse_json(json, d3, 3, &st) == 0, "escapes: rejected");
    CHECK(st.n_tensors == 1, "escapes: n_tensors %d", st.n_tensors);
    if (st.n_tensors == 1) {
        CHECK(strcmp(st.tensors[0].name, "a\xc3\xa9\xf0\x9f\x98\x80/") == 0, "name '%s'",
              st.tensors[0].name);
        CHECK(memcmp(st.tensors[0].data, d3, 3) == 0, "escapes: data");
    }
    const char *v = vsml_st_get_meta(&st, "x\"y");
    CHECK(v && strcmp(v, "\\n\tA") == 0, "escaped meta '%s'", v ? v : "(null)");
    vsml_st_free(&st);

    /* tensors listed out of data order come back in data order */
    uint8_t d6[6] = {1, 2, 3, 4, 5, 6};
    json = "{\"second\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
           "\"first\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[0,4]},"
           "\"none\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[6,6]}}";
    CHECK(parse_json(json, d6, 6, &st) == 0, "order: rejected");
    CHECK(st.n_tensors == 3, "order: n_tensors %d", st.n_tensors);
    if (st.n_tensors == 3) {
        CHECK(strcmp(st.tensors[0].name, "first") == 0, "order 0: %s", st.tensors[0].name);
        CHECK(strcmp(st.tensors[1].name, "second") == 0, "order 1: %s", st.tensors[1].name);
        CHECK(strcmp(st.tensors[2].name, "none") == 0, "order 2: %s", st.tensors[2].name);
        CHECK(((uint8_t *)st.tensors[1].data)[0] == 5, "second[0]");
        CHECK(st.tensors[2].nbytes == 0 && st.tensors[2].data != NULL, "empty tensor");
    }
    vsml_st_free(&st);

    /* longest allowed name, all dims, scalar */
    char name[VSML_ST_MAX_NAME];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"%s\":{\"dtype\":\"F64\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[0,8]},"
             "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[8,12]}}",
             name);
    uint8_t d12[12] = {0};
    CHECK(parse_json(buf, d12, 12, &st) == 0, "long name / 8 dims / scalar: rejected");
    CHECK(vsml_st_find(&st, name) && vsml_st_find(&st, name)->ndim == 8, "8 dims");
    CHECK(vsml_st_find(&st, "s") && vsml_st_find(&st, "s")->ndim == 0 &&
              vsml_st_find(&st, "s")->nbytes == 4,
          "scalar");
    vsml_st_free(&st);

    CHECK(parse_json("{\"__metadata__\":{}}", NULL, 0, &st) == 0 && st.n_meta == 0, "empty meta");
    vsml_st_free(&st);
}

/* ---- corrupt inputs ------------------------------------------------------ */

static void test_rejects_framing(void)
{
    uint8_t small[120] = {0};
    expect_reject_buf(small, 0, "zero-length file");
    expect_reject_buf(small, 7, "7-byte file");
    small[0] = 0x3f; /* 999999 = 0x0f423f */
    small[1] = 0x42;
    small[2] = 0x0f;
    expect_reject_buf(small, sizeof(small), "header longer than file");
    memset(small, 0, 8);
    small[5] = 1; /* 2^40 */
    expect_reject_buf(small, sizeof(small), "header length 2^40");
    memset(small, 0xff, 8);
    expect_reject_buf(small, sizeof(small), "header length 2^64-1");
    memset(small, 0, 8);
    expect_reject_buf(small, 8, "empty header");

    /* a header over the 100 MB limit, inside a file large enough to hold it */
    size_t big = 100000001 + 8;
    uint8_t *huge = calloc(big, 1);
    if (huge) {
        uint64_t h = 100000001;
        for (int i = 0; i < 8; i++)
            huge[i] = (uint8_t)(h >> (8 * i));
        expect_reject_buf(huge, big, "header over 100 MB");
        free(huge);
    }

    /* every truncation of a valid file */
    float w[2] = {1, 2};
    size_t len;
    uint8_t *full = build("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", w,
                          8, &len);
    vsml_st st;
    CHECK(vsml_st_parse(full, len, "full", &st) == 0, "untruncated file rejected");
    vsml_st_free(&st);
    int accepted = 0, multi = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *part = malloc(cut ? cut : 1); /* exact size, so ASan sees overreads */
        memcpy(part, full, cut);
        n_errors = 0;
        accepted += vsml_st_parse(part, cut, "bad.safetensors", &st) == 0;
        multi += n_errors != 1;
        vsml_st_free(&st);
        free(part);
    }
    CHECK(accepted == 0, "%d truncations accepted", accepted);
    CHECK(multi == 0, "%d truncations did not log exactly one error", multi);
    free(full);
}

static void test_rejects_tensors(void)
{
    uint8_t z[16] = {0};
    expect_reject("{\"t\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", z, 4,
                  "dtype F16");
    expect_reject("{\"t\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4,
                  "dtype f32");
    expect_reject("{\"t\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4,
                  "dtype not a string");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                  z, 1, "9 dimensions");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]}}", z, 2,
                  "negative dimension");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                  "\"data_offsets\":[0,0]}}",
                  z, 0, "shape product overflow");
    expect_reject("{\"t\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                  "\"data_offsets\":[0,0]}}",
                  z, 0, "byte size overflow");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],"
                  "\"data_offsets\":[0,0]}}",
                  z, 0, "overflow before a zero dim");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],"
                  "\"data_offsets\":[0,0]}}",
                  z, 0, "integer too large");
    expect_reject("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", z, 8,
                  "shape/offsets mismatch");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", z, 8,
                  "reversed offsets");
    expect_reject("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 4,
                  "offsets out of range");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],"
                  "\"data_offsets\":[18446744073709551615,0]}}",
                  z, 1, "offset beyond int64");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
                  z, 6, "overlapping tensors");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                  z, 4, "aliased tensors");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
                  z, 6, "hole between tensors");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", z, 4,
                  "hole at the start");
    expect_reject("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", z, 10,
                  "trailing data bytes");
    expect_reject("{}", z, 1, "data with no tensors");
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                  z, 8, "duplicate names");
    char name[VSML_ST_MAX_NAME + 1], buf[512];
    memset(name, 'x', VSML_ST_MAX_NAME);
    name[VSML_ST_MAX_NAME] = '\0';
    snprintf(buf, sizeof(buf), "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
             name);
    expect_reject(buf, z, 1, "name of 128 bytes");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", z, 1,
                  "unknown tensor field");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],"
                  "\"data_offsets\":[0,1]}}",
                  z, 1, "repeated tensor field");
    expect_reject("{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", z, 1, "missing dtype");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", z, 1, "missing data_offsets");
    expect_reject("{\"t\":{}}", z, 0, "empty tensor object");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}", z, 1,
                  "3 data_offsets");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", z, 1,
                  "1 data_offset");
    expect_reject("{\"t\":5}", z, 0, "tensor not an object");
    expect_reject("{\"t\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", z, 1,
                  "shape not an array");
}

static void test_rejects_json(void)
{
    static const struct {
        const char *json, *label;
    } cases[] = {
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", "missing brace"},
        {"{\"t\" {\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "missing colon"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},}", "trailing comma"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", "comma in array"},
        {"{\"t\":{\"dtype\":\"U8\",,\"shape\":[1],\"data_offsets\":[0,1]}}", "double comma"},
        {"{'t':{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "single quotes"},
        {"{t:{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "bare key"},
        {"{\"t", "unterminated string"},
        {"{\"t\\", "backslash at the end"},
        {"{\"t\\q\":1}", "unknown escape"},
        {"{\"t\\ud800\":1}", "lone high surrogate"},
        {"{\"t\\ud800\\u0041\":1}", "high surrogate + non-low"},
        {"{\"t\\udc00\":1}", "lone low surrogate"},
        {"{\"t\\u0000\":1}", "escaped NUL"},
        {"{\"t\\u12g4\":1}", "bad hex"},
        {"{\"t\\u12\"}", "short \\u"},
        {"{\"t\tx\":1}", "raw tab in string"},
        {"{\"t\xff\":1}", "invalid UTF-8"},
        {"{\"t\xc0\xaf\":1}", "overlong UTF-8"},
        {"{\"t\xed\xa0\x80\":1}", "UTF-8 surrogate"},
        {"{\"t\xe2\x82\":1}", "truncated UTF-8"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", "fraction"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]}}", "exponent"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", "leading zero"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[+1],\"data_offsets\":[0,1]}}", "plus sign"},
        {"{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", "trailing garbage"},
        {"{}{}", "two objects"},
        {"[]", "top-level array"},
        {"true", "top-level literal"},
        {"null", "null"},
        {"", "empty JSON"},
        {"        ", "blank header"},
        {"{\"__metadata__\":{\"k\":1}}", "number in metadata"},
        {"{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", "object in metadata"},
        {"{\"__metadata__\":{\"k\":null}}", "null in metadata"},
        {"{\"__metadata__\":[\"k\"]}", "metadata array"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", "duplicate metadata key"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", "duplicate __metadata__"},
        {"{\"__metadata__\":{\"k\" \"v\"}}", "metadata missing colon"},
    };
    for (size_t i = 0; i < VSML_ARRAY_SIZE(cases); i++)
        expect_reject(cases[i].json, NULL, 0, cases[i].label);

    /* a NUL byte inside the header cannot be written as a C string */
    static const char with_nul[] = "{\"a\0b\":{}}";
    uint8_t b[8 + sizeof(with_nul) - 1] = {sizeof(with_nul) - 1};
    memcpy(b + 8, with_nul, sizeof(with_nul) - 1);
    expect_reject_buf(b, sizeof(b), "raw NUL in header");
}

/* ---- writer failures ------------------------------------------------------ */

static void expect_write_fails(const char *path, const vsml_tensor *t, int n,
                               const vsml_st_meta *m, int nm, const char *label)
{
    n_errors = 0;
    last_error[0] = '\0';
    CHECK(vsml_st_write(path, t, n, m, nm) != 0, "%s: write succeeded", label);
    CHECK(n_errors == 1, "%s: %d errors logged", label, n_errors);
    fprintf(stderr, "  write failed %-24s %s\n", label, last_error);
}

static void test_write_failures(void)
{
    uint8_t u[4] = {1, 2, 3, 4};
    vsml_tensor good = {.name = "u", .dtype = VSML_U8, .ndim = 1, .shape = {4}, .data = u,
                        .nbytes = 4};
    char path[256], missing[256], subdir[256];
    tmp_path(path, sizeof(path), "keep.safetensors");
    CHECK(vsml_st_write(path, &good, 1, NULL, 0) == 0, "write keep");
    size_t len0;
    uint8_t *before = slurp(path, &len0);

    tmp_path(missing, sizeof(missing), "no/such/dir/x.safetensors");
    expect_write_fails(missing, &good, 1, NULL, 0, "missing directory");
    struct stat sb;
    CHECK(stat(missing, &sb) != 0, "file appeared in a missing directory");

    /* invalid arguments must be caught before PATH is touched */
    vsml_tensor bad = good;
    bad.nbytes = 3;
    expect_write_fails(path, &bad, 1, NULL, 0, "nbytes mismatch");
    vsml_tensor two[2] = {good, good};
    expect_write_fails(path, two, 2, NULL, 0, "duplicate names");
    bad = good;
    bad.dtype = (enum vsml_dtype)9;
    expect_write_fails(path, &bad, 1, NULL, 0, "invalid dtype");
    bad = good;
    bad.ndim = VSML_ST_MAX_DIMS + 1;
    expect_write_fails(path, &bad, 1, NULL, 0, "too many dims");
    bad = good;
    bad.shape[0] = -4;
    expect_write_fails(path, &bad, 1, NULL, 0, "negative dim");
    bad = good;
    bad.data = NULL;
    expect_write_fails(path, &bad, 1, NULL, 0, "NULL data");
    bad = good;
    memset(bad.name, 'x', sizeof(bad.name));
    expect_write_fails(path, &bad, 1, NULL, 0, "unterminated name");
    bad = good;
    strcpy(bad.name, "__metadata__");
    expect_write_fails(path, &bad, 1, NULL, 0, "reserved name");
    bad = good;
    strcpy(bad.name, "bad\xff");
    expect_write_fails(path, &bad, 1, NULL, 0, "name not UTF-8");
    vsml_st_meta dm[2] = {{"k", "a"}, {"k", "b"}};
    expect_write_fails(path, &good, 1, dm, 2, "duplicate meta keys");
    vsml_st_meta nm = {"k", NULL};
    expect_write_fails(path, &good, 1, &nm, 1, "NULL meta value");

    /* a failure at rename time: PATH is a directory */
    tmp_path(subdir, sizeof(subdir), "adir");
    CHECK(mkdir(subdir, 0700) == 0, "mkdir");
    expect_write_fails(subdir, &good, 1, NULL, 0, "target is a directory");
    CHECK(stat(subdir, &sb) == 0 && S_ISDIR(sb.st_mode), "directory replaced");

    size_t len1;
    uint8_t *after = slurp(path, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0,
          "existing file changed by failed writes");
    CHECK(count_tmp_leftovers() == 0, "temporary files left behind");
    free(before);
    free(after);
}

static void test_misc(void)
{
    CHECK(vsml_dtype_size(VSML_F32) == 4 && vsml_dtype_size(VSML_I32) == 4 &&
              vsml_dtype_size(VSML_U8) == 1 && vsml_dtype_size(VSML_F64) == 8 &&
              vsml_dtype_size(VSML_I64) == 8,
          "dtype sizes");
    CHECK(strcmp(vsml_dtype_name(VSML_U8), "U8") == 0 &&
              strcmp(vsml_dtype_name(VSML_I64), "I64") == 0,
          "dtype names");
    CHECK(vsml_dtype_size((enum vsml_dtype)42) == 0, "invalid dtype size");
    vsml_st zero = {0};
    vsml_st_free(&zero);
    vsml_st_free(NULL);
    n_errors = 0;
    vsml_st st;
    CHECK(vsml_st_read("/nonexistent/x.safetensors", &st) != 0 && n_errors == 1,
          "missing file");
    vsml_st_free(&st);
    /* not regular files: a device that never ends, a directory */
    n_errors = 0;
    CHECK(vsml_st_read("/dev/zero", &st) != 0 && n_errors == 1 &&
              strstr(last_error, "not a regular file"),
          "/dev/zero: %d errors, '%s'", n_errors, last_error);
    vsml_st_free(&st);
    n_errors = 0;
    CHECK(vsml_st_read(tmpdir, &st) != 0 && n_errors == 1, "a directory: %d errors", n_errors);
    vsml_st_free(&st);
    /* a 64 GiB sparse file whose header length is 2^40: refused from its
     * first 8 bytes (reading it all first, as vsml_st_read once did, ends in
     * "out of memory reading" on a machine without 64 GiB to spare) */
    char path[600];
    snprintf(path, sizeof(path), "%s/sparse.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    uint8_t h40[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    int made = f && fwrite(h40, 1, 8, f) == 8 && ftruncate(fileno(f), 64ll << 30) == 0;
    if (f)
        fclose(f);
    CHECK(made, "cannot make the sparse file %s", path);
    n_errors = 0;
    CHECK(vsml_st_read(path, &st) != 0 && n_errors == 1 &&
              strstr(last_error, "exceeds file size 68719476736"),
          "sparse file: %d errors, '%s'", n_errors, last_error);
    vsml_st_free(&st);
    remove(path);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vsml_test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    vsml_log_set_callback(capture, NULL);
    test_misc();
    test_round_trip();
    test_exact_bytes();
    test_accepts();
    test_rejects_framing();
    test_rejects_tensors();
    test_rejects_json();
    test_write_failures();
    vsml_log_set_callback(NULL, NULL);
    remove_tmpdir();
    TEST_END();
}
