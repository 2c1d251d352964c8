/* Synthetic data sets: labels and value ranges hold for every example, and
 * the sample moments match those derived from the generating distributions. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "vsml/data.h"
#include "vsml/log.h"

static int n_errors;

static void capture(void *user, enum vsml_log_level level, const char *msg)
{
    if (level == VSML_LOG_ERROR) {
        n_errors++;
        fprintf(stderr, "  (expected) %s\n", msg);
    }
}

static int same_data(const vsml_dataset *a, const vsml_dataset *b)
{
    return a->n == b->n && a->dim == b->dim &&
           memcmp(a->x, b->x, (size_t)a->n * (size_t)a->dim * sizeof(float)) == 0 &&
           memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t)) == 0;
}

/* Variance of N(0, 1) truncated to [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1). */
static double trunc_normal_var(double a)
{
    double phi = exp(-0.5 * a * a) / sqrt(2.0 * M_PI);
    return 1.0 - 2.0 * a * phi / erf(a / sqrt(2.0));
}

static void test_sumsign_labels_and_ranges(const vsml_dataset *d)
{
    int bad_label = 0, out_of_range = 0, too_wide = 0, ones = 0;
    for (int i = 0; i < d->n; i++) {
        const float *x = d->x + (size_t)i * (size_t)d->dim;
        double sum = 0.0, lo = x[0], hi = x[0];
        for (int j = 0; j < d->dim; j++) {
            sum += x[j];
            lo = fmin(lo, x[j]);
            hi = fmax(hi, x[j]);
        }
        bad_label += d->y[i] != (sum >= 0.0 ? 1 : 0);
        ones += d->y[i] == 1;
        /* |mu| <= 1 and |x - mu| <= 2 */
        out_of_range += lo < -3.0 - 1e-6 || hi > 3.0 + 1e-6;
        /* all of an example's values lie within 2 of the same mu */
        too_wide += hi - lo > 4.0 + 1e-6;
    }
    CHECK(bad_label == 0, "%d labels differ from sum(x) >= 0", bad_label);
    CHECK(out_of_range == 0, "%d examples have values outside [-3, 3]", out_of_range);
    CHECK(too_wide == 0, "%d examples span more than 4", too_wide);
    double frac = (double)ones / d->n;
    /* P(label = 1) = 1/2 by symmetry; sd of frac is 0.011 at n = 2000 */
    CHECK(frac > 0.45 && frac < 0.55, "class 1 fraction %.3f", frac);
}

/* Per-example means spread like mu ~ U(-1, 1) (variance 1/3) plus the mean
 * of dim truncated normals; values within an example vary like one truncated
 * normal. */
static void test_sumsign_moments(const vsml_dataset *d)
{
    double s = 0.0, s2 = 0.0, within = 0.0;
    for (int i = 0; i < d->n; i++) {
        const float *x = d->x + (size_t)i * (size_t)d->dim;
        double m = 0.0;
        for (int j = 0; j < d->dim; j++)
            m += x[j];
        m /= d->dim;
        for (int j = 0; j < d->dim; j++)
            within += (x[j] - m) * (x[j] - m);
        s += m;
        s2 += m * m;
    }
    double mean = s / d->n, var_means = s2 / d->n - mean * mean;
    double var_within = within / ((double)d->n * (d->dim - 1));
    double tv = trunc_normal_var(2.0);
    CHECK_NEAR(tv, 0.7737, 1e-3);
    CHECK_NEAR(mean, 0.0, 0.06);
    CHECK_NEAR(var_means, 1.0 / 3.0 + tv / d->dim, 0.035); /* sd 0.0075 */
    CHECK_NEAR(var_within, tv, 0.03);
}

static void test_sumsign(void)
{
    vsml_dataset d, e, f;
    CHECK(vsml_synth_sumsign(&d, 2000, 16, 1) == 0, "sumsign failed");
    CHECK(d.n == 2000 && d.dim == 16 && d.n_classes == 2, "n %d dim %d classes %d", d.n, d.dim,
          d.n_classes);
    CHECK(d.height == 1 && d.width == 16 && d.channels == 1, "%dx%dx%d", d.height, d.width,
          d.channels);
    CHECK(strcmp(d.name, "sumsign") == 0, "name '%s'", d.name);
    test_sumsign_labels_and_ranges(&d);
    test_sumsign_moments(&d);

    CHECK(vsml_synth_sumsign(&e, 2000, 16, 1) == 0, "sumsign again");
    CHECK(same_data(&d, &e), "same seed, different data");
    CHECK(vsml_synth_sumsign(&f, 2000, 16, 2) == 0, "sumsign seed 2");
    CHECK(!same_data(&d, &f), "different seeds, same data");
    CHECK(d.x[0] != f.x[0], "seed 1 and 2 start alike");
    vsml_dataset_free(&d);
    vsml_dataset_free(&e);
    vsml_dataset_free(&f);

    CHECK(vsml_synth_sumsign(&d, 3, 784, 5) == 0, "sumsign 784");
    CHECK(d.height == 28 && d.width == 28 && d.channels == 1 && d.dim == 784, "784 -> %dx%d",
          d.height, d.width);
    vsml_dataset_free(&d);

    int bad[][2] = {{0, 16}, {-5, 16}, {10, 0}, {10, -1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n_errors = 0;
        memset(&d, 0xab, sizeof d); /* the call must clear what was there */
        int rc = vsml_synth_sumsign(&d, bad[i][0], bad[i][1], 1);
        CHECK(rc != 0 && n_errors == 1, "sumsign(%d, %d) accepted", bad[i][0], bad[i][1]);
        CHECK(d.x == NULL && d.y == NULL, "output not cleared");
    }
}

static void test_random(void)
{
    enum { N = 1000, DIM = 64, K = 10 };
    vsml_dataset d, e, f;
    CHECK(vsml_synth_random(&d, N, DIM, K, 7) == 0, "random failed");
    CHECK(d.n == N && d.dim == DIM && d.n_classes == K, "n %d dim %d classes %d", d.n, d.dim,
          d.n_classes);
    CHECK(d.height == 1 && d.width == DIM && d.channels == 1, "shape");
    CHECK(strcmp(d.name, "random") == 0, "name '%s'", d.name);

    int counts[K] = {0}, out = 0;
    for (int i = 0; i < d.n; i++) {
        if (d.y[i] < 0 || d.y[i] >= K)
            out++;
        else
            counts[d.y[i]]++;
    }
    CHECK(out == 0, "%d labels out of range", out);
    for (int k = 0; k < K; k++) /* expected 100, sd 9.5 */
        CHECK(counts[k] > 55 && counts[k] < 145, "class %d appears %d times", k, counts[k]);

    /* N(0, 1): mean 0, variance 1, P(|x| > 2) = 0.0455, kurtosis 3 */
    double s = 0, s2 = 0, s4 = 0;
    int tail = 0;
    size_t total = (size_t)N * DIM;
    for (size_t i = 0; i < total; i++) {
        double v = d.x[i];
        s += v;
        s2 += v * v;
        s4 += v * v * v * v;
        tail += fabs(v) > 2.0;
    }
    double mean = s / total, var = s2 / total - mean * mean;
    CHECK_NEAR(mean, 0.0, 0.02);
    CHECK_NEAR(sqrt(var), 1.0, 0.02);
    CHECK_NEAR((double)tail / total, 1.0 - erf(2.0 / sqrt(2.0)), 0.006);
    CHECK_NEAR(s4 / total, 3.0, 0.2);

    CHECK(vsml_synth_random(&e, N, DIM, K, 7) == 0, "random again");
    CHECK(same_data(&d, &e), "same seed, different data");
    CHECK(vsml_synth_random(&f, N, DIM, K, 8) == 0, "random seed 8");
    CHECK(!same_data(&d, &f), "different seeds, same data");
    vsml_dataset_free(&d);
    vsml_dataset_free(&e);
    vsml_dataset_free(&f);

    CHECK(vsml_synth_random(&d, 2, 784, 2, 1) == 0 && d.height == 28 && d.width == 28,
          "random 784");
    vsml_dataset_free(&d);

    int bad[][3] = {{0, 4, 2}, {4, 0, 2}, {4, 4, 0}, {-1, 4, 2}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n_errors = 0;
        memset(&d, 0xab, sizeof d); /* the call must clear what was there */
        int rc = vsml_synth_random(&d, bad[i][0], bad[i][1], bad[i][2], 1);
        CHECK(rc != 0 && n_errors == 1, "random(%d, %d, %d) accepted", bad[i][0], bad[i][1],
              bad[i][2]);
        CHECK(d.x == NULL && d.y == NULL, "output not cleared");
    }
}

int main(void)
{
    vsml_log_set_callback(capture, NULL);
    test_sumsign();
    test_random();
    vsml_log_set_callback(NULL, NULL);
    TEST_END();
}
