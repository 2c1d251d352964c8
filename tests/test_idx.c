/* IDX loading: hand-built raw and gzip files load to the expected values,
 * and every kind of bad input fails with exactly one error. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "test.h"
#include "test_errors.h"
#include "vsml/data.h"
#include "vsml/log.h"
#include "vsml/util.h"

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *p = bufs[k++ % 4];
    snprintf(p, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return p;
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(tmp_path(e->d_name));
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len, "short write to %s", path);
        fclose(f);
    }
}

static void write_gz_file(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb9");
    CHECK(f != NULL, "gzopen %s", path);
    if (f) {
        CHECK(gzwrite(f, data, (unsigned)len) == (int)len, "gzwrite %s", path);
        gzclose(f);
    }
}

/* One gzip member in memory (deflate with a gzip wrapper). */
static uint8_t *gzip_mem(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int ret = deflate(&zs, Z_FINISH);
    CHECK(ret == Z_STREAM_END, "deflate: %d", ret);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* An IDX image file: magic, n, rows, cols, then `npix` pixel bytes. */
static uint8_t *idx_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                           const uint8_t *pix, size_t npix, size_t *len)
{
    *len = 16 + npix;
    uint8_t *b = malloc(*len);
    put_be32(b, magic);
    put_be32(b + 4, n);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    memcpy(b + 16, pix, npix);
    return b;
}

static uint8_t *idx_labels(uint32_t magic, uint32_t n, const uint8_t *lab, size_t nlab,
                           size_t *len)
{
    *len = 8 + nlab;
    uint8_t *b = malloc(*len);
    put_be32(b, magic);
    put_be32(b + 4, n);
    memcpy(b + 8, lab, nlab);
    return b;
}

/* 3 images of 2x3 and their labels */
enum { N = 3, ROWS = 2, COLS = 3, NPIX = N * ROWS * COLS };
static uint8_t pix[NPIX];
static const uint8_t labels[N] = {2, 0, 7};

static void make_pixels(void)
{
    for (int i = 0; i < NPIX; i++)
        pix[i] = (uint8_t)((i * 37 + 5) % 256);
    pix[0] = 0;
    pix[NPIX - 1] = 255;
}

static void check_dataset(const vsml_dataset *d, const char *name, const char *label)
{
    CHECK(d->n == N && d->dim == ROWS * COLS, "%s: n %d dim %d", label, d->n, d->dim);
    CHECK(d->height == ROWS && d->width == COLS && d->channels == 1, "%s: %dx%dx%d", label,
          d->height, d->width, d->channels);
    CHECK(d->n_classes == 8, "%s: n_classes %d", label, d->n_classes);
    CHECK(strcmp(d->name, name) == 0, "%s: name '%s'", label, d->name);
    if (!d->x || !d->y || d->n != N)
        return;
    for (int i = 0; i < NPIX; i++)
        CHECK_NEAR(d->x[i], pix[i] / 255.0, 1e-7);
    CHECK(d->x[0] == 0.0f && d->x[NPIX - 1] == 1.0f, "%s: endpoints", label);
    for (int i = 0; i < N; i++)
        CHECK(d->y[i] == labels[i], "%s: y[%d] = %d", label, i, d->y[i]);
}

static void test_load_good(void)
{
    size_t ilen, llen;
    uint8_t *img = idx_images(0x803, N, ROWS, COLS, pix, NPIX, &ilen);
    uint8_t *lab = idx_labels(0x801, N, labels, N, &llen);
    write_file(tmp_path("imgs.idx"), img, ilen);
    write_file(tmp_path("labs.idx"), lab, llen);
    write_gz_file(tmp_path("imgs.idx.gz"), img, ilen);
    write_gz_file(tmp_path("labs.idx.gz"), lab, llen);

    vsml_dataset d;
    n_errors = 0;
    CHECK(vsml_idx_load(tmp_path("imgs.idx"), tmp_path("labs.idx"), &d) == 0, "raw load");
    check_dataset(&d, "imgs.idx", "raw");
    vsml_dataset_free(&d);
    CHECK(vsml_idx_load(tmp_path("imgs.idx.gz"), tmp_path("labs.idx.gz"), &d) == 0, "gz load");
    check_dataset(&d, "imgs.idx.gz", "gz");
    vsml_dataset_free(&d);
    CHECK(vsml_idx_load(tmp_path("imgs.idx.gz"), tmp_path("labs.idx"), &d) == 0, "mixed load");
    check_dataset(&d, "imgs.idx.gz", "mixed");

    /* normalisation with MNIST's constants */
    vsml_dataset_normalize(&d, 0.1307f, 0.3081f);
    for (int i = 0; i < NPIX; i++)
        CHECK_NEAR(d.x[i], (pix[i] / 255.0 - 0.1307) / 0.3081, 1e-5);
    vsml_dataset_free(&d);
    CHECK(d.x == NULL && d.y == NULL && d.n == 0, "free does not zero");
    vsml_dataset_free(&d);
    vsml_dataset_free(NULL);
    CHECK(n_errors == 0, "good loads logged %d errors", n_errors);

    /* extra bytes after the data are accepted */
    uint8_t *img2 = realloc(img, ilen + 5);
    memset(img2 + ilen, 0xee, 5);
    float *x;
    int n, r, c;
    CHECK(vsml_idx_parse_images(img2, ilen + 5, "extra", &x, &n, &r, &c) == 0 && n == N &&
              r == ROWS && c == COLS,
          "trailing bytes rejected");
    free(x);
    free(img2);
    free(lab);
}

static void test_gzip(void)
{
    /* 1 MiB of patterned data: the output buffer has to grow several times */
    size_t big = 1 << 20;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 9));
    size_t zlen;
    uint8_t *z = gzip_mem(data, big, &zlen);
    write_file(tmp_path("big.gz"), z, zlen);
    uint8_t *got;
    size_t len;
    CHECK(vsml_read_file_maybe_gz(tmp_path("big.gz"), big, &got, &len) == 0, "big.gz");
    CHECK(len == big && got && memcmp(got, data, big) == 0, "big.gz content");
    free(got);

    begin_fail_check();
    int rc = vsml_read_file_maybe_gz(tmp_path("big.gz"), big - 1, &got, &len);
    end_fail_check(rc, "big.gz", "gzip over max_bytes");
    CHECK(got == NULL, "buffer set on failure");

    /* concatenated members decompress to the concatenation */
    size_t z1len, z2len;
    uint8_t *z1 = gzip_mem("hello, ", 7, &z1len);
    uint8_t *z2 = gzip_mem("world", 5, &z2len);
    uint8_t *cat = malloc(z1len + z2len);
    memcpy(cat, z1, z1len);
    memcpy(cat + z1len, z2, z2len);
    write_file(tmp_path("cat.gz"), cat, z1len + z2len);
    CHECK(vsml_read_file_maybe_gz(tmp_path("cat.gz"), 100, &got, &len) == 0, "cat.gz");
    CHECK(len == 12 && got && memcmp(got, "hello, world", 12) == 0, "cat.gz content");
    free(got);

    /* raw files pass through; the cap applies to them too */
    write_file(tmp_path("raw.bin"), "abc", 3);
    CHECK(vsml_read_file_maybe_gz(tmp_path("raw.bin"), 3, &got, &len) == 0 && len == 3 &&
              memcmp(got, "abc", 3) == 0,
          "raw passthrough");
    free(got);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("raw.bin"), 2, &got, &len);
    end_fail_check(rc, "raw.bin", "raw over max_bytes");

    /* an empty file is not gzip and reads as empty */
    write_file(tmp_path("empty"), "", 0);
    CHECK(vsml_read_file_maybe_gz(tmp_path("empty"), 10, &got, &len) == 0 && len == 0,
          "empty file");
    free(got);

    /* corrupt streams */
    uint8_t *bad = malloc(zlen + 16);
    memcpy(bad, z, zlen);
    bad[zlen / 2] ^= 0x55;
    write_file(tmp_path("flip.gz"), bad, zlen);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("flip.gz"), big, &got, &len);
    end_fail_check(rc, "flip.gz", "flipped byte");

    memcpy(bad, z, zlen);
    bad[zlen - 8] ^= 0x01; /* the CRC-32 in the trailer */
    write_file(tmp_path("crc.gz"), bad, zlen);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("crc.gz"), big, &got, &len);
    end_fail_check(rc, "crc.gz", "bad CRC");

    write_file(tmp_path("trunc.gz"), z, zlen - 4);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("trunc.gz"), big, &got, &len);
    end_fail_check(rc, "trunc.gz", "truncated trailer");

    write_file(tmp_path("half.gz"), z, zlen / 2);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("half.gz"), big, &got, &len);
    end_fail_check(rc, "half.gz", "truncated half");

    write_file(tmp_path("magic.gz"), "\x1f\x8b", 2);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("magic.gz"), big, &got, &len);
    end_fail_check(rc, "magic.gz", "magic only");

    write_file(tmp_path("junk.gz"), "\x1f\x8bjunkjunkjunkjunk", 18);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("junk.gz"), big, &got, &len);
    end_fail_check(rc, "junk.gz", "bad gzip header");

    memcpy(bad, z1, z1len);
    memcpy(bad + z1len, "GARBAGE", 7);
    write_file(tmp_path("tail.gz"), bad, z1len + 7);
    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("tail.gz"), big, &got, &len);
    end_fail_check(rc, "tail.gz", "garbage after stream");

    begin_fail_check();
    rc = vsml_read_file_maybe_gz(tmp_path("does-not-exist"), big, &got, &len);
    end_fail_check(rc, "does-not-exist", "missing file");

    free(bad);
    free(cat);
    free(z1);
    free(z2);
    free(z);
    free(data);
}

static void reject_images(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols, size_t npix,
                          const char *label)
{
    size_t len;
    uint8_t *b = idx_images(magic, n, rows, cols, pix, npix, &len);
    float *x = (float *)&len; /* must be reset to NULL */
    int nn = -1, r = -1, c = -1;
    begin_fail_check();
    int rc = vsml_idx_parse_images(b, len, "bad-images", &x, &nn, &r, &c);
    end_fail_check(rc, "bad-images", label);
    CHECK(x == NULL, "%s: x set on failure", label);
    free(b);
}

static void reject_labels(uint32_t magic, uint32_t n, size_t nlab, const char *label)
{
    size_t len;
    uint8_t *b = idx_labels(magic, n, labels, nlab, &len);
    int32_t *y = (int32_t *)&len;
    int nn = -1;
    begin_fail_check();
    int rc = vsml_idx_parse_labels(b, len, "bad-labels", &y, &nn);
    end_fail_check(rc, "bad-labels", label);
    CHECK(y == NULL, "%s: y set on failure", label);
    free(b);
}

static void test_parse_bad(void)
{
    reject_images(0x12345678, N, ROWS, COLS, NPIX, "image magic 0x12345678");
    reject_images(0x801, N, ROWS, COLS, NPIX, "label magic for images");
    reject_images(0x0D03, N, ROWS, COLS, NPIX, "float element type");
    reject_images(0x802, N, ROWS, COLS, NPIX, "2 dimensions");
    reject_images(0x803, N, ROWS, COLS, NPIX - 1, "truncated pixels");
    reject_images(0x803, N, ROWS, COLS, 0, "no pixels");
    reject_images(0x803, 0, ROWS, COLS, NPIX, "zero images");
    reject_images(0x803, VSML_IDX_MAX_ITEMS + 1, ROWS, COLS, NPIX, "too many images");
    reject_images(0x803, 0xFFFFFFFFu, ROWS, COLS, NPIX, "2^32-1 images");
    reject_images(0x803, N, 0, COLS, NPIX, "zero rows");
    reject_images(0x803, N, 257, 256, NPIX, "257x256 pixels");
    reject_images(0x803, N, 0xFFFFFFFFu, 0xFFFFFFFFu, NPIX, "(2^32-1)^2 pixels");
    reject_labels(0x12345678, N, N, "label magic 0x12345678");
    reject_labels(0x803, N, N, "image magic for labels");
    reject_labels(0x801, N, N - 1, "truncated labels");
    reject_labels(0x801, 0, 0, "zero labels");
    reject_labels(0x801, VSML_IDX_MAX_ITEMS + 1, N, "too many labels");

    /* headers cut short */
    size_t len;
    uint8_t *b = idx_images(0x803, N, ROWS, COLS, pix, NPIX, &len);
    for (size_t cut = 0; cut < 16; cut++) {
        float *x;
        int n, r, c;
        begin_fail_check();
        uint8_t *part = malloc(cut ? cut : 1);
        memcpy(part, b, cut);
        int rc = vsml_idx_parse_images(part, cut, "short", &x, &n, &r, &c);
        CHECK(rc != 0 && n_errors == 1, "image header cut at %zu", cut);
        free(part);
    }
    free(b);
    b = idx_labels(0x801, N, labels, N, &len);
    for (size_t cut = 0; cut < 8; cut++) {
        int32_t *y;
        int n;
        begin_fail_check();
        int rc = vsml_idx_parse_labels(b, cut, "short", &y, &n);
        CHECK(rc != 0 && n_errors == 1, "label header cut at %zu", cut);
    }
    free(b);

    /* the largest allowed image size is accepted */
    uint8_t *px = calloc(VSML_IDX_MAX_DIM, 1);
    b = idx_images(0x803, 1, 256, 256, px, VSML_IDX_MAX_DIM, &len);
    float *x;
    int n, r, c;
    CHECK(vsml_idx_parse_images(b, len, "max", &x, &n, &r, &c) == 0 && n == 1 && r == 256,
          "256x256 rejected");
    free(x);
    free(b);
    free(px);
}

static void test_load_bad(void)
{
    size_t ilen, llen;
    uint8_t *img = idx_images(0x803, N, ROWS, COLS, pix, NPIX, &ilen);
    uint8_t *lab = idx_labels(0x801, N - 1, labels, N - 1, &llen);
    write_file(tmp_path("i.idx"), img, ilen);
    write_file(tmp_path("l2.idx"), lab, llen);
    write_file(tmp_path("t.idx"), img, ilen - 1);

    vsml_dataset d;
    begin_fail_check();
    int rc = vsml_idx_load(tmp_path("i.idx"), tmp_path("l2.idx"), &d);
    end_fail_check(rc, "l2.idx", "count mismatch");
    CHECK(d.x == NULL && d.y == NULL, "count mismatch: output not zeroed");

    begin_fail_check();
    rc = vsml_idx_load(tmp_path("t.idx"), tmp_path("l2.idx"), &d);
    end_fail_check(rc, "t.idx", "truncated image file");

    begin_fail_check();
    rc = vsml_idx_load(tmp_path("i.idx"), tmp_path("missing.idx"), &d);
    end_fail_check(rc, "missing.idx", "missing label file");
    CHECK(d.x == NULL, "missing labels: images leaked into output");

    begin_fail_check();
    rc = vsml_idx_load(tmp_path("l2.idx"), tmp_path("i.idx"), &d);
    end_fail_check(rc, "l2.idx", "files swapped");

    /* a corrupt gzip image file */
    size_t zlen;
    uint8_t *z = gzip_mem(img, ilen, &zlen);
    z[zlen - 4] ^= 0xff; /* the length in the trailer */
    write_file(tmp_path("i.idx.gz"), z, zlen);
    begin_fail_check();
    rc = vsml_idx_load(tmp_path("i.idx.gz"), tmp_path("l2.idx"), &d);
    end_fail_check(rc, "i.idx.gz", "corrupt gzip image file");
    free(z);
    free(img);
    free(lab);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vsml_test_idx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    vsml_log_set_callback(capture, NULL);
    make_pixels();
    test_load_good();
    test_gzip();
    test_parse_bad();
    test_load_bad();
    vsml_log_set_callback(NULL, NULL);
    remove_tmpdir();
    TEST_END();
}
