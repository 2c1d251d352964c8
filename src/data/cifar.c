/* CIFAR-10 binary batches (spec section 7): records of one label byte and
 * 3072 pixel bytes (1024 R, 1024 G, 1024 B, each row-major 32x32). Pixels
 * keep the file's CHW order and are scaled to [0, 1]. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsml/data.h"
#include "vsml/log.h"
#include "vsml/util.h"

/* A full batch is 10,000 records (30,730,000 bytes); allow some slack. */
#define CIFAR_MAX_FILE_BYTES ((size_t)256 << 20)
#define CIFAR_N_BATCHES 5

int vsml_cifar_parse(const uint8_t *buf, size_t len, const char *what, float **x,
                     int32_t **y, int *n)
{
    *x = NULL;
    *y = NULL;
    *n = 0;
    if (len == 0) {
        vsml_err("%s is empty: not a CIFAR-10 binary batch", what);
        return -1;
    }
    if (len % VSML_CIFAR_RECORD != 0) {
        vsml_err("%s is %zu bytes, not a multiple of the CIFAR-10 record size %d "
                 "(truncated or not a CIFAR-10 binary batch)", what, len, VSML_CIFAR_RECORD);
        return -1;
    }
    size_t count = len / VSML_CIFAR_RECORD;
    if (count > VSML_IDX_MAX_ITEMS) {
        vsml_err("%s holds %zu records, more than the limit of %d", what, count,
                 VSML_IDX_MAX_ITEMS);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t label = buf[i * VSML_CIFAR_RECORD];
        if (label > 9) {
            vsml_err("%s: record %zu has label %u, outside 0..9 (not a CIFAR-10 batch?)",
                     what, i, (unsigned)label);
            return -1;
        }
    }
    float *xs = malloc(count * VSML_CIFAR_DIM * sizeof(float));
    int32_t *ys = malloc(count * sizeof(int32_t));
    if (!xs || !ys) {
        free(xs);
        free(ys);
        vsml_err("out of memory parsing %s (%zu records)", what, count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const uint8_t *rec = buf + i * VSML_CIFAR_RECORD;
        ys[i] = rec[0];
        float *dst = xs + i * VSML_CIFAR_DIM;
        for (int j = 0; j < VSML_CIFAR_DIM; j++)
            dst[j] = (float)rec[1 + j] / 255.0f;
    }
    *x = xs;
    *y = ys;
    *n = (int)count;
    return 0;
}

static int load_one(const char *path, vsml_dataset *d)
{
    uint8_t *buf;
    size_t len;
    if (vsml_read_file(path, CIFAR_MAX_FILE_BYTES, &buf, &len) != 0)
        return -1;
    float *x;
    int32_t *y;
    int n;
    int rc = vsml_cifar_parse(buf, len, path, &x, &y, &n);
    free(buf);
    if (rc != 0)
        return -1;
    if ((long long)d->n + n > VSML_IDX_MAX_ITEMS) {
        vsml_err("%s: CIFAR-10 batches hold more than %d records together", path,
                 VSML_IDX_MAX_ITEMS);
        goto fail;
    }
    size_t total = (size_t)d->n + (size_t)n;
    float *nx = realloc(d->x, total * VSML_CIFAR_DIM * sizeof(float));
    if (nx)
        d->x = nx;
    int32_t *ny = nx ? realloc(d->y, total * sizeof(int32_t)) : NULL;
    if (ny)
        d->y = ny;
    if (!nx || !ny) {
        vsml_err("out of memory loading %s", path);
        goto fail;
    }
    memcpy(d->x + (size_t)d->n * VSML_CIFAR_DIM, x, (size_t)n * VSML_CIFAR_DIM * sizeof(float));
    memcpy(d->y + d->n, y, (size_t)n * sizeof(int32_t));
    d->n = (int)total;
    free(x);
    free(y);
    return 0;
fail:
    free(x);
    free(y);
    return -1;
}

static const char *batch_name(bool test_split, int i, char *tmp, size_t n)
{
    if (test_split)
        return "test_batch.bin";
    snprintf(tmp, n, "data_batch_%d.bin", i + 1);
    return tmp;
}

int vsml_cifar_load(const char *dir, bool test_split, vsml_dataset *out)
{
    memset(out, 0, sizeof(*out));
    char path[4096 + 64], sub[4096], name[32];
    if (strlen(dir) > 4000) {
        vsml_err("CIFAR-10 directory name is too long (%zu bytes)", strlen(dir));
        return -1;
    }
    const char *first = batch_name(test_split, 0, name, sizeof(name));
    /* DIR itself, else DIR/cifar-10-batches-bin (as the archive unpacks). */
    snprintf(sub, sizeof(sub), "%s", dir);
    snprintf(path, sizeof(path), "%s/%s", sub, first);
    if (access(path, R_OK) != 0) {
        snprintf(sub, sizeof(sub), "%s/cifar-10-batches-bin", dir);
        snprintf(path, sizeof(path), "%s/%s", sub, first);
        if (access(path, R_OK) != 0) {
            vsml_err("CIFAR-10 %s not found in %s or %s/cifar-10-batches-bin", first, dir, dir);
            return -1;
        }
    }
    vsml_dataset d;
    memset(&d, 0, sizeof(d));
    int n_files = test_split ? 1 : CIFAR_N_BATCHES;
    for (int i = 0; i < n_files; i++) {
        snprintf(path, sizeof(path), "%s/%s", sub, batch_name(test_split, i, name, sizeof(name)));
        if (load_one(path, &d) != 0) {
            vsml_dataset_free(&d);
            return -1;
        }
    }
    d.height = 32;
    d.width = 32;
    d.channels = 3;
    d.dim = VSML_CIFAR_DIM;
    d.n_classes = 10;
    snprintf(d.name, sizeof(d.name), "cifar10");
    *out = d;
    return 0;
}
