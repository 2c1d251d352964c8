/* CIFAR-10 binary batches and bilinear resizing: hand-built records parse to
 * the expected labels and CHW pixels, bad batches fail with one error, a
 * batch file in a temp directory loads, and resizing matches values derived
 * by hand for align_corners=False bilinear interpolation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_errors.h"
#include "vsml/data.h"
#include "vsml/log.h"


/* Record r: label lab, pixel j of channel c = (r * 7 + c * 50 + j) % 256. */
static uint8_t pixel(int r, int c, int j)
{
    return (uint8_t)((r * 7 + c * 50 + j) % 256);
}

static void make_batch(uint8_t *buf, int n, const uint8_t *labels)
{
    for (int r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * VSML_CIFAR_RECORD;
        rec[0] = labels[r];
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 1024; j++)
                rec[1 + c * 1024 + j] = pixel(r, c, j);
    }
}

static void check_pixels(const float *x, int n, const char *label)
{
    int bad = 0;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 1024; j++)
                if (x[(size_t)r * 3072 + c * 1024 + j] != (float)pixel(r, c, j) / 255.0f)
                    bad++;
    CHECK(bad == 0, "%s: %d pixels differ", label, bad);
}

static void test_parse(void)
{
    static uint8_t buf[2 * VSML_CIFAR_RECORD];
    const uint8_t labels[2] = {3, 9};
    make_batch(buf, 2, labels);
    float *x;
    int32_t *y;
    int n;
    begin_fail_check();
    CHECK(vsml_cifar_parse(buf, sizeof(buf), "two.bin", &x, &y, &n) == 0, "parse two records");
    CHECK(n_errors == 0, "parse logged %d errors", n_errors);
    CHECK(n == 2, "n = %d", n);
    if (n == 2) {
        CHECK(y[0] == 3 && y[1] == 9, "labels %d %d", y[0], y[1]);
        check_pixels(x, 2, "parse");
        /* spot checks of the CHW layout: record 1, G channel (c = 1), pixel
         * (row 2, col 5) = index 2*32+5 = 69 -> (7 + 50 + 69) % 256 = 126 */
        CHECK(x[3072 + 1024 + 69] == 126.0f / 255.0f, "G(2,5) of record 1 = %g",
              (double)x[3072 + 1024 + 69]);
        CHECK(x[0] == 0.0f, "record 0 R(0,0) = %g", (double)x[0]);
        /* record 0, B channel, pixel 1023: (100 + 1023) % 256 = 99 */
        CHECK(x[2048 + 1023] == 99.0f / 255.0f, "B(31,31) = %g", (double)x[2048 + 1023]);
    }
    free(x);
    free(y);

    begin_fail_check();
    end_fail_check(vsml_cifar_parse(buf, 0, "empty.bin", &x, &y, &n), "empty.bin", "empty");
    CHECK(x == NULL && y == NULL && n == 0, "outputs not cleared on failure");
    begin_fail_check();
    end_fail_check(vsml_cifar_parse(buf, sizeof(buf) - 1, "short.bin", &x, &y, &n),
                   "short.bin", "truncated");
    begin_fail_check();
    end_fail_check(vsml_cifar_parse(buf, VSML_CIFAR_RECORD + 1, "long.bin", &x, &y, &n),
                   "long.bin", "one byte extra");
    buf[VSML_CIFAR_RECORD] = 10;
    begin_fail_check();
    end_fail_check(vsml_cifar_parse(buf, sizeof(buf), "label10.bin", &x, &y, &n),
                   "label10.bin", "label 10");
    buf[VSML_CIFAR_RECORD] = 255;
    begin_fail_check();
    end_fail_check(vsml_cifar_parse(buf, sizeof(buf), "label255.bin", &x, &y, &n),
                   "label255.bin", "label 255");
}

static void test_load(void)
{
    char dir[64] = "/tmp/vsml-cifar-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char sub[128], path[256];
    snprintf(sub, sizeof(sub), "%s/cifar-10-batches-bin", dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    snprintf(path, sizeof(path), "%s/test_batch.bin", sub);
    static uint8_t buf[3 * VSML_CIFAR_RECORD];
    const uint8_t labels[3] = {0, 7, 2};
    make_batch(buf, 3, labels);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        CHECK(fwrite(buf, 1, sizeof(buf), f) == sizeof(buf), "write");
        fclose(f);
    }

    vsml_dataset d;
    begin_fail_check();
    /* the file is under DIR/cifar-10-batches-bin/: found from DIR and from sub */
    for (int k = 0; k < 2; k++) {
        CHECK(vsml_cifar_load(k ? sub : dir, true, &d) == 0, "load test split (%d)", k);
        CHECK(d.n == 3 && d.dim == 3072 && d.height == 32 && d.width == 32 && d.channels == 3,
              "shape n=%d dim=%d %dx%dx%d", d.n, d.dim, d.height, d.width, d.channels);
        CHECK(d.n_classes == 10 && strcmp(d.name, "cifar10") == 0, "classes %d name %s",
              d.n_classes, d.name);
        if (d.n == 3) {
            CHECK(d.y[0] == 0 && d.y[1] == 7 && d.y[2] == 2, "labels %d %d %d", d.y[0], d.y[1],
                  d.y[2]);
            check_pixels(d.x, 3, "load");
        }
        vsml_dataset_free(&d);
    }
    CHECK(n_errors == 0, "load logged %d errors: %s", n_errors, last_error);

    /* train split: data_batch_1.bin is missing */
    begin_fail_check();
    memset(&d, 0xab, sizeof d); /* the call must clear what was there */
    end_fail_check(vsml_cifar_load(dir, false, &d), "data_batch_1.bin", "missing train batches");
    CHECK(d.x == NULL && d.n == 0, "output not cleared");

    /* train split with batch 1 present but 2..5 missing: names batch 2 */
    snprintf(path, sizeof(path), "%s/data_batch_1.bin", sub);
    f = fopen(path, "wb");
    CHECK(f != NULL, "create %s", path);
    if (f) {
        CHECK(fwrite(buf, 1, sizeof(buf), f) == sizeof(buf), "write");
        fclose(f);
    }
    begin_fail_check();
    end_fail_check(vsml_cifar_load(dir, false, &d), "data_batch_2.bin", "missing batch 2");
    unlink(path);

    snprintf(path, sizeof(path), "%s/test_batch.bin", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    begin_fail_check();
    end_fail_check(vsml_cifar_load(dir, true, &d), dir, "missing directory");
}

static void test_resize(void)
{
    /* 2x2 -> 4x4, align_corners=False. Per axis the source coordinate of
     * output o is src = (o + 0.5) * in/out - 0.5 = (o + 0.5) / 2 - 0.5,
     * clamped at 0: o = 0 -> -0.25 -> 0; o = 1 -> 0.25; o = 2 -> 0.75;
     * o = 3 -> 1.25, whose right neighbour is clamped to index 1. So each
     * axis maps [a, b] to [a, 0.75a + 0.25b, 0.25a + 0.75b, b].
     * Image [[0, 1], [2, 3]]: rows become [0, .25, .75, 1] and
     * [2, 2.25, 2.75, 3]; mixing rows the same way gives
     *   0    0.25 0.75 1
     *   0.5  0.75 1.25 1.5
     *   1.5  1.75 2.25 2.5
     *   2    2.25 2.75 3
     * (what torch's F.interpolate(bilinear, align_corners=False) returns).
     * A second channel holds 10x the first, a second example 100 + the first,
     * to check the CHW layout and the per-example stride. */
    static const float want[16] = {0, 0.25f, 0.75f, 1,    0.5f, 0.75f, 1.25f, 1.5f,
                                   1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    vsml_dataset d;
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "tiny");
    d.n = 2;
    d.height = d.width = 2;
    d.channels = 2;
    d.dim = 8;
    d.n_classes = 2;
    d.x = malloc(16 * sizeof(float));
    d.y = calloc(2, sizeof(int32_t));
    for (int e = 0; e < 2; e++)
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < 4; j++)
                d.x[e * 8 + c * 4 + j] = (float)j * (c ? 10.0f : 1.0f) + (e ? 100.0f : 0.0f);
    begin_fail_check();
    CHECK(vsml_dataset_resize(&d, 4, 4) == 0, "resize 2x2 -> 4x4");
    CHECK(d.height == 4 && d.width == 4 && d.dim == 32 && d.channels == 2, "shape %dx%dx%d dim %d",
          d.height, d.width, d.channels, d.dim);
    if (d.dim == 32)
        for (int e = 0; e < 2; e++)
            for (int c = 0; c < 2; c++)
                for (int j = 0; j < 16; j++)
                    CHECK_NEAR(d.x[e * 32 + c * 16 + j],
                               want[j] * (c ? 10.0f : 1.0f) + (e ? 100.0f : 0.0f), 1e-5);
    vsml_dataset_free(&d);

    /* same size: identity, including the 28x28 single-channel layout */
    memset(&d, 0, sizeof(d));
    d.n = 3;
    d.height = d.width = 28;
    d.channels = 1;
    d.dim = 784;
    d.x = malloc(3 * 784 * sizeof(float));
    float *copy = malloc(3 * 784 * sizeof(float));
    for (int i = 0; i < 3 * 784; i++)
        copy[i] = d.x[i] = (float)((i * 37) % 101) / 7.0f - 3.0f;
    CHECK(vsml_dataset_resize(&d, 28, 28) == 0, "resize to the same size");
    CHECK(d.dim == 784 && memcmp(d.x, copy, sizeof(float) * 3 * 784) == 0,
          "same-size resize changed the data");

    /* 28x28 -> 14x14 of a constant image stays constant */
    for (int i = 0; i < 3 * 784; i++)
        d.x[i] = 0.4242f;
    CHECK(vsml_dataset_resize(&d, 14, 14) == 0, "resize 28 -> 14");
    CHECK(d.height == 14 && d.width == 14 && d.dim == 196, "shape %dx%d dim %d", d.height,
          d.width, d.dim);
    int bad = 0;
    for (int i = 0; i < 3 * d.dim; i++)
        if (fabsf(d.x[i] - 0.4242f) > 1e-6f)
            bad++;
    CHECK(bad == 0, "%d values of a constant image changed", bad);
    /* 28 -> 14 halves: output o reads source 2o + 0.5, the mean of 2o, 2o+1 */
    free(d.x);
    d.x = malloc(784 * sizeof(float));
    for (int i = 0; i < 784; i++)
        d.x[i] = (float)(i % 28);
    d.height = d.width = 28;
    d.dim = 784;
    d.n = 1;
    CHECK(vsml_dataset_resize(&d, 14, 14) == 0, "resize ramp 28 -> 14");
    CHECK_NEAR(d.x[0], 0.5, 1e-5);
    CHECK_NEAR(d.x[14 * 3 + 13], 26.5, 1e-5);
    CHECK(n_errors == 0, "resize logged %d errors: %s", n_errors, last_error);

    begin_fail_check();
    end_fail_check(vsml_dataset_resize(&d, 0, 14), "1..1024", "height 0");
    begin_fail_check();
    end_fail_check(vsml_dataset_resize(&d, 14, 1025), "1..1024", "width 1025");
    begin_fail_check();
    end_fail_check(vsml_dataset_resize(&d, -3, 14), "1..1024", "height -3");
    CHECK(d.height == 14 && d.dim == 196, "failed resize changed the shape");
    d.dim = 100; /* inconsistent with 14x14x1 */
    begin_fail_check();
    end_fail_check(vsml_dataset_resize(&d, 28, 28), "dim 100", "dim mismatch");
    d.dim = 196;
    vsml_dataset_free(&d);
    free(copy);
}

int main(void)
{
    vsml_log_set_callback(capture, NULL);
    test_parse();
    test_load();
    test_resize();
    vsml_log_set_callback(NULL, NULL);
    TEST_END();
}
