/* IDX files (the MNIST family), optionally gzip-compressed.
 *
 * Format: a big-endian header (two zero bytes, a type byte, a dimension
 * count, then one u32 per dimension) followed by the raw elements. Only
 * uint8 (type 0x08) images [n][rows][cols] and labels [n] are supported. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "vsml/data.h"
#include "vsml/log.h"
#include "vsml/util.h"

/* The largest file (raw or decompressed) vsml_idx_load accepts. An image
 * file at the header limits could be far larger, but no real data set is. */
#define IDX_MAX_FILE_BYTES ((size_t)1 << (sizeof(size_t) >= 8 ? 32 : 30))

static uint32_t load_be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Checks the 4-byte magic; `ndim` is 3 for images and 1 for labels. */
static int check_magic(const uint8_t *buf, size_t len, int ndim, const char *what)
{
    const char *kind = ndim == 3 ? "image" : "label";
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr) {
        vsml_err("%s: file is %zu bytes, too short for an IDX %s header (%zu bytes)", what,
                 len, kind, hdr);
        return -1;
    }
    if (buf[0] != 0 || buf[1] != 0) {
        vsml_err("%s: not an IDX file (magic 0x%08x)", what, (unsigned)load_be32(buf));
        return -1;
    }
    if (buf[2] != 0x08) {
        vsml_err("%s: IDX element type 0x%02x is not supported (only 0x08, uint8)", what,
                 buf[2]);
        return -1;
    }
    if (buf[3] != ndim) {
        vsml_err("%s: an IDX %s file has %d dimension%s, this one has %d (magic 0x%08x)",
                 what, kind, ndim, ndim == 1 ? "" : "s", buf[3], (unsigned)load_be32(buf));
        return -1;
    }
    return 0;
}

static int check_count(uint32_t n, const char *what)
{
    if (n == 0 || n > VSML_IDX_MAX_ITEMS) {
        vsml_err("%s: IDX item count %u is outside [1, %d]", what, (unsigned)n,
                 VSML_IDX_MAX_ITEMS);
        return -1;
    }
    return 0;
}

static int check_data_len(size_t len, size_t hdr, uint64_t need, const char *what)
{
    if ((uint64_t)(len - hdr) < need) {
        vsml_err("%s: truncated: the header promises %llu data bytes but only %zu follow", what,
                 (unsigned long long)need, len - hdr);
        return -1;
    }
    return 0;
}

int vsml_idx_parse_images(const uint8_t *buf, size_t len, const char *what, float **x,
                          int *n, int *rows, int *cols)
{
    *x = NULL;
    if (check_magic(buf, len, 3, what) != 0)
        return -1;
    uint32_t cnt = load_be32(buf + 4), r = load_be32(buf + 8), c = load_be32(buf + 12);
    if (check_count(cnt, what) != 0)
        return -1;
    uint64_t dim = (uint64_t)r * c;
    if (dim == 0 || dim > VSML_IDX_MAX_DIM) {
        vsml_err("%s: IDX image size %ux%u is outside [1, %d] pixels", what, (unsigned)r,
                 (unsigned)c, VSML_IDX_MAX_DIM);
        return -1;
    }
    uint64_t total = (uint64_t)cnt * dim;
    if (check_data_len(len, 16, total, what) != 0)
        return -1;
    float *f = malloc((size_t)total * sizeof(float));
    if (!f) {
        vsml_err("%s: out of memory for %llu pixels", what, (unsigned long long)total);
        return -1;
    }
    for (size_t i = 0; i < (size_t)total; i++)
        f[i] = (float)buf[16 + i] / 255.0f;
    *x = f;
    *n = (int)cnt;
    *rows = (int)r;
    *cols = (int)c;
    return 0;
}

int vsml_idx_parse_labels(const uint8_t *buf, size_t len, const char *what, int32_t **y,
                          int *n)
{
    *y = NULL;
    if (check_magic(buf, len, 1, what) != 0)
        return -1;
    uint32_t cnt = load_be32(buf + 4);
    if (check_count(cnt, what) != 0 || check_data_len(len, 8, cnt, what) != 0)
        return -1;
    int32_t *l = malloc((size_t)cnt * sizeof(int32_t));
    if (!l) {
        vsml_err("%s: out of memory for %u labels", what, (unsigned)cnt);
        return -1;
    }
    for (size_t i = 0; i < cnt; i++)
        l[i] = buf[8 + i];
    *y = l;
    *n = (int)cnt;
    return 0;
}

/* ---- gzip --------------------------------------------------------------- */

static bool is_gzip(const uint8_t *buf, size_t len)
{
    return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* zlib counts in uInt, so feed and drain at most this much per call. */
static unsigned clamp_uint(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

/* The output may hold one byte more than max_bytes, so that a stream of
 * exactly max_bytes is told apart from a longer one without guessing. */
static int grow_output(uint8_t **out, size_t *cap, size_t limit, const char *what)
{
    if (*cap >= limit) {
        vsml_err("%s: decompressed data exceeds the limit of %zu bytes", what, limit - 1);
        return -1;
    }
    size_t ncap = *cap > limit / 2 ? limit : *cap * 2;
    uint8_t *n = realloc(*out, ncap);
    if (!n) {
        vsml_err("%s: out of memory decompressing", what);
        return -1;
    }
    *out = n;
    *cap = ncap;
    return 0;
}

/* Runs inflate to the end of the input, accepting concatenated gzip members
 * (what `cat a.gz b.gz` produces, and gunzip accepts). Returns 1 when the
 * output buffer is full and must grow, 0 when done, -1 on error. */
static int inflate_some(z_stream *zs, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t *out_n, size_t cap, const char *what)
{
    for (;;) {
        size_t used_in = (size_t)(zs->next_in - in);
        if (*out_n == cap)
            return 1;
        zs->avail_in = clamp_uint(in_len - used_in);
        zs->next_out = out + *out_n;
        zs->avail_out = clamp_uint(cap - *out_n);
        unsigned before = zs->avail_out;
        int ret = inflate(zs, Z_NO_FLUSH);
        *out_n += before - zs->avail_out;
        used_in = (size_t)(zs->next_in - in);
        if (ret == Z_STREAM_END) {
            if (used_in == in_len)
                return 0;
            if (!is_gzip(zs->next_in, in_len - used_in)) {
                vsml_err("%s: %zu bytes of garbage after the gzip stream", what,
                         in_len - used_in);
                return -1;
            }
            if (inflateReset(zs) != Z_OK) {
                vsml_err("%s: cannot restart the gzip decoder", what);
                return -1;
            }
        } else if (ret == Z_MEM_ERROR) {
            vsml_err("%s: out of memory decompressing", what);
            return -1;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            vsml_err("%s: corrupt gzip stream: %s", what, zs->msg ? zs->msg : "invalid data");
            return -1;
        } else if (used_in == in_len && *out_n < cap && ret == Z_BUF_ERROR) {
            vsml_err("%s: gzip stream ends early (truncated or corrupt; %zu compressed bytes)",
                     what, in_len);
            return -1;
        }
    }
}

static int gunzip(const uint8_t *in, size_t in_len, size_t max_bytes, const char *what,
                  uint8_t **buf, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        vsml_err("%s: cannot initialise the gzip decoder", what);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write through next_in */
    size_t limit = max_bytes < SIZE_MAX ? max_bytes + 1 : SIZE_MAX;
    size_t cap = in_len < limit / 4 ? in_len * 4 + 64 : limit;
    if (cap > limit)
        cap = limit;
    size_t out_n = 0;
    uint8_t *out = malloc(cap);
    int rc = out ? 1 : -1;
    if (!out)
        vsml_err("%s: out of memory decompressing", what);
    while (rc == 1) {
        rc = inflate_some(&zs, in, in_len, out, &out_n, cap, what);
        if (rc == 1 && grow_output(&out, &cap, limit, what) != 0)
            rc = -1;
    }
    inflateEnd(&zs);
    if (rc == 0 && out_n > max_bytes) {
        vsml_err("%s: decompressed data exceeds the limit of %zu bytes", what, max_bytes);
        rc = -1;
    }
    if (rc != 0) {
        free(out);
        return -1;
    }
    *buf = out;
    *len = out_n;
    return 0;
}

/* Room for gzip's worst-case expansion of incompressible data (5 bytes per
 * 16 KiB block plus the header), so that a stored file near the limit still
 * reads. */
static size_t compressed_limit(size_t max_bytes)
{
    size_t extra = max_bytes / 1024 + 1024;
    return max_bytes > SIZE_MAX - extra ? SIZE_MAX : max_bytes + extra;
}

int vsml_gunzip_if_needed(uint8_t **buf, size_t *len, size_t max_bytes, const char *what)
{
    if (!is_gzip(*buf, *len)) {
        if (*len > max_bytes) {
            vsml_err("%s is larger than the limit of %zu bytes", what, max_bytes);
            return -1;
        }
        return 0;
    }
    uint8_t *out;
    size_t out_len;
    if (gunzip(*buf, *len, max_bytes, what, &out, &out_len) != 0)
        return -1;
    free(*buf);
    *buf = out;
    *len = out_len;
    return 0;
}

int vsml_read_file_maybe_gz(const char *path, size_t max_bytes, uint8_t **buf, size_t *len)
{
    uint8_t *raw;
    size_t raw_len;
    *buf = NULL;
    *len = 0;
    if (vsml_read_file(path, compressed_limit(max_bytes), &raw, &raw_len) != 0)
        return -1;
    if (vsml_gunzip_if_needed(&raw, &raw_len, max_bytes, path) != 0) {
        free(raw);
        return -1;
    }
    *buf = raw;
    *len = raw_len;
    return 0;
}

/* ---- data sets ---------------------------------------------------------- */

static int load_images(const char *path, vsml_dataset *d)
{
    uint8_t *buf;
    size_t len;
    if (vsml_read_file_maybe_gz(path, IDX_MAX_FILE_BYTES, &buf, &len) != 0)
        return -1;
    int rc = vsml_idx_parse_images(buf, len, path, &d->x, &d->n, &d->height, &d->width);
    free(buf);
    return rc;
}

static int load_labels(const char *path, int32_t **y, int *n)
{
    uint8_t *buf;
    size_t len;
    if (vsml_read_file_maybe_gz(path, IDX_MAX_FILE_BYTES, &buf, &len) != 0)
        return -1;
    int rc = vsml_idx_parse_labels(buf, len, path, y, n);
    free(buf);
    return rc;
}

int vsml_idx_load(const char *images_path, const char *labels_path, vsml_dataset *out)
{
    vsml_dataset d;
    memset(&d, 0, sizeof(d));
    memset(out, 0, sizeof(*out));
    int n_labels = 0;
    if (load_images(images_path, &d) != 0 || load_labels(labels_path, &d.y, &n_labels) != 0)
        goto fail;
    if (n_labels != d.n) {
        vsml_err("%s has %d images but %s has %d labels", images_path, d.n, labels_path,
                 n_labels);
        goto fail;
    }
    d.channels = 1;
    d.dim = d.height * d.width;
    for (int i = 0; i < d.n; i++)
        if (d.y[i] + 1 > d.n_classes)
            d.n_classes = d.y[i] + 1;
    const char *slash = strrchr(images_path, '/');
    snprintf(d.name, sizeof(d.name), "%s", slash ? slash + 1 : images_path);
    *out = d;
    return 0;
fail:
    vsml_dataset_free(&d);
    return -1;
}

void vsml_dataset_normalize(vsml_dataset *d, float mean, float std)
{
    size_t total = (size_t)d->n * (size_t)d->dim;
    for (size_t i = 0; d->x && i < total; i++)
        d->x[i] = (d->x[i] - mean) / std;
}

void vsml_dataset_free(vsml_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof(*d));
}
