/* The SGD and Adam baselines against a straightforward double-precision
 * reference written here (naive loops over separate weight arrays), step by
 * step on a small stream: 5 inputs, 3 classes, 20 steps, hidden 4 and linear. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vsml/eval.h"
#include "vsml/rng.h"

enum { IN = 5, HID = 4, OUT = 3, STEPS = 20, MAXP = IN * HID + HID + HID * OUT + OUT };

/* The reference network: weights copied from the baseline's initial vector. */
typedef struct refnet {
    int hidden; /* 0 or HID */
    double W1[IN][HID], b1[HID], W2[HID][OUT], b2[OUT]; /* hidden network */
    double W[IN][OUT], b[OUT];                          /* linear network */
    double m[MAXP], v[MAXP];                            /* Adam moments, flat order */
    int t;
} refnet;

/* Parameters in the documented flat order, as pointers into the struct. */
static int ref_params(refnet *r, double **p)
{
    int n = 0;
    if (r->hidden) {
        for (int i = 0; i < IN; i++)
            for (int j = 0; j < HID; j++)
                p[n++] = &r->W1[i][j];
        for (int j = 0; j < HID; j++)
            p[n++] = &r->b1[j];
        for (int j = 0; j < HID; j++)
            for (int k = 0; k < OUT; k++)
                p[n++] = &r->W2[j][k];
        for (int k = 0; k < OUT; k++)
            p[n++] = &r->b2[k];
    } else {
        for (int i = 0; i < IN; i++)
            for (int k = 0; k < OUT; k++)
                p[n++] = &r->W[i][k];
        for (int k = 0; k < OUT; k++)
            p[n++] = &r->b[k];
    }
    return n;
}

/* One prequential step in double: y = outputs before the update; the
 * gradients of every parameter in flat order go to g. Returns the loss. */
static double ref_grad(refnet *r, const double *x, int label, double *y, double *g)
{
    double h[HID] = {0}, z[OUT], p[OUT], dz[OUT]; /* h: set when hidden (-O3 warns) */
    if (r->hidden) {
        for (int j = 0; j < HID; j++) {
            double s = r->b1[j];
            for (int i = 0; i < IN; i++)
                s += x[i] * r->W1[i][j];
            h[j] = tanh(s);
        }
        for (int k = 0; k < OUT; k++) {
            z[k] = r->b2[k];
            for (int j = 0; j < HID; j++)
                z[k] += h[j] * r->W2[j][k];
        }
    } else {
        for (int k = 0; k < OUT; k++) {
            z[k] = r->b[k];
            for (int i = 0; i < IN; i++)
                z[k] += x[i] * r->W[i][k];
        }
    }
    double sum = 0;
    for (int k = 0; k < OUT; k++) {
        y[k] = 100.0 * tanh(z[k] / 100.0);
        sum += exp(y[k]);
    }
    for (int k = 0; k < OUT; k++) {
        p[k] = exp(y[k]) / sum;
        double th = tanh(z[k] / 100.0);
        dz[k] = (p[k] - (k == label)) * (1.0 - th * th); /* dL/dy * dy/dz */
    }
    int n = 0;
    if (r->hidden) {
        double dpre[HID];
        for (int j = 0; j < HID; j++) {
            double dh = 0;
            for (int k = 0; k < OUT; k++)
                dh += r->W2[j][k] * dz[k];
            dpre[j] = dh * (1.0 - h[j] * h[j]);
        }
        for (int i = 0; i < IN; i++)
            for (int j = 0; j < HID; j++)
                g[n++] = x[i] * dpre[j];
        for (int j = 0; j < HID; j++)
            g[n++] = dpre[j];
        for (int j = 0; j < HID; j++)
            for (int k = 0; k < OUT; k++)
                g[n++] = h[j] * dz[k];
        for (int k = 0; k < OUT; k++)
            g[n++] = dz[k];
    } else {
        for (int i = 0; i < IN; i++)
            for (int k = 0; k < OUT; k++)
                g[n++] = x[i] * dz[k];
        for (int k = 0; k < OUT; k++)
            g[n++] = dz[k];
    }
    return -log(p[label]);
}

static void ref_update(refnet *r, const double *g, enum vsml_optimizer opt)
{
    double *p[MAXP];
    int n = ref_params(r, p);
    if (opt == VSML_OPT_SGD) {
        for (int i = 0; i < n; i++)
            *p[i] -= 1e-2 * g[i];
        return;
    }
    r->t++;
    for (int i = 0; i < n; i++) { /* Kingma & Ba, Algorithm 1 */
        r->m[i] = 0.9 * r->m[i] + 0.1 * g[i];
        r->v[i] = 0.999 * r->v[i] + 0.001 * g[i] * g[i];
        double mh = r->m[i] / (1.0 - pow(0.9, r->t)), vh = r->v[i] / (1.0 - pow(0.999, r->t));
        *p[i] -= 1e-3 * mh / (sqrt(vh) + 1e-8);
    }
}

static void make_data(double x[STEPS][IN], float xf[STEPS][IN], int32_t *stream)
{
    vsml_rng r;
    vsml_rng_init(&r, 7, 0, 99);
    for (int t = 0; t < STEPS; t++) {
        for (int i = 0; i < IN; i++) {
            xf[t][i] = (float)(2.0 * vsml_rng_normal(&r));
            x[t][i] = xf[t][i];
        }
        stream[2 * t] = t;
        stream[2 * t + 1] = (int32_t)vsml_rng_below(&r, OUT);
    }
}

static void compare(enum vsml_optimizer opt, int hidden)
{
    static double x[STEPS][IN];
    static float xf[STEPS][IN];
    int32_t stream[2 * STEPS];
    make_data(x, xf, stream);
    vsml_baseline_config c;
    vsml_baseline_config_default(&c, opt, IN, hidden, OUT);
    vsml_baseline *b;
    CHECK(vsml_baseline_create(&c, 11, 3, &b) == 0, "create");
    if (!b)
        return;
    size_t n;
    float *bp = vsml_baseline_params(b, &n);
    refnet *r = calloc(1, sizeof(*r));
    r->hidden = hidden;
    double *rp[MAXP];
    int rn = ref_params(r, rp);
    CHECK((size_t)rn == n, "parameter count %zu, reference %d", n, rn);
    for (int i = 0; i < rn; i++)
        *rp[i] = bp[i];
    double worst_y = 0, worst_p = 0;
    uint8_t ok[STEPS];
    for (int t = 0; t < STEPS; t++) {
        double y[OUT], g[MAXP];
        float yf[OUT];
        double loss = ref_grad(r, x[t], stream[2 * t + 1], y, g);
        ref_update(r, g, opt);
        float lf = vsml_baseline_step(b, xf[t], stream[2 * t + 1], yf);
        CHECK_NEAR(lf, loss, 1e-5);
        int arg = 0;
        for (int k = 0; k < OUT; k++) {
            worst_y = fmax(worst_y, fabs(yf[k] - y[k]));
            if (y[k] > y[arg])
                arg = k;
        }
        ok[t] = arg == stream[2 * t + 1];
        for (int i = 0; i < rn; i++)
            worst_p = fmax(worst_p, fabs(bp[i] - *rp[i]));
    }
    CHECK(worst_y <= 1e-5, "%s hidden %d: output error %.3g", opt ? "adam" : "sgd", hidden, worst_y);
    CHECK(worst_p <= 1e-5, "%s hidden %d: parameter error %.3g", opt ? "adam" : "sgd", hidden,
          worst_p);
    fprintf(stderr, "%s hidden %d: max |y - ref| %.2e, max |param - ref| %.2e\n",
            opt ? "adam" : "sgd", hidden, worst_y, worst_p);
    /* The episode helper sees the same predictions. */
    uint8_t c_ep[STEPS];
    float loss_ep[STEPS];
    CHECK(vsml_baseline_episode(&c, 11, 3, &xf[0][0], stream, STEPS, c_ep, loss_ep) == 0, "episode");
    CHECK(!memcmp(c_ep, ok, STEPS), "episode correctness differs from the reference");
    vsml_baseline_destroy(&b);
    free(r);
}

/* Truncated normal init: |w| <= 2 / sqrt(fan_in), zero biases, deterministic
 * in (seed, stream), different for another stream. */
static void init_checks(void)
{
    vsml_baseline_config c;
    vsml_baseline_config_default(&c, VSML_OPT_ADAM, 50, 20, 10);
    vsml_baseline *a, *b, *d;
    CHECK(vsml_baseline_create(&c, 5, 0, &a) == 0 && vsml_baseline_create(&c, 5, 0, &b) == 0 &&
          vsml_baseline_create(&c, 5, 1, &d) == 0, "create");
    size_t n;
    float *pa = vsml_baseline_params(a, &n), *pb = vsml_baseline_params(b, NULL),
          *pd = vsml_baseline_params(d, NULL);
    CHECK(n == 50 * 20 + 20 + 20 * 10 + 10, "count %zu", n);
    CHECK(!memcmp(pa, pb, n * sizeof(float)), "same seed, same weights");
    CHECK(memcmp(pa, pd, n * sizeof(float)) != 0, "another stream, other weights");
    double ss = 0, mx = 0;
    for (int i = 0; i < 50 * 20; i++) {
        ss += (double)pa[i] * pa[i];
        mx = fmax(mx, fabs(pa[i]));
    }
    /* truncated at 2 std: the std of the truncated normal is 0.88 std. */
    CHECK(mx <= 2.0 / sqrt(50.0) + 1e-6, "max |W1| %g", mx);
    CHECK_NEAR(sqrt(ss / 1000), 0.88 / sqrt(50.0), 0.02);
    for (int j = 0; j < 20; j++)
        CHECK(pa[1000 + j] == 0, "b1[%d] = %g", j, pa[1000 + j]);
    for (int k = 0; k < 10; k++)
        CHECK(pa[n - 10 + k] == 0, "b2[%d]", k);
    vsml_baseline_destroy(&a);
    vsml_baseline_destroy(&b);
    vsml_baseline_destroy(&d);
}

/* Many seeds on threads equal the episodes run one by one. */
static void threads_match(void)
{
    enum { S = 5, T = 30, DIM = 6, NX = 40 };
    static float x[NX * DIM];
    static int32_t streams[S * T * 2];
    vsml_rng r;
    vsml_rng_init(&r, 1, 0, 98);
    for (int i = 0; i < NX * DIM; i++)
        x[i] = (float)vsml_rng_normal(&r);
    for (int i = 0; i < S * T; i++) {
        streams[2 * i] = (int32_t)vsml_rng_below(&r, NX);
        streams[2 * i + 1] = (int32_t)vsml_rng_below(&r, 4);
    }
    vsml_baseline_config c;
    vsml_baseline_config_default(&c, VSML_OPT_SGD, DIM, 7, 4);
    static uint8_t ca[S * T], cb[S * T];
    static float la[S * T], lb[S * T];
    CHECK(vsml_baseline_run(&c, 9, x, streams, S, T, 3, ca, la) == 0, "run");
    for (int s = 0; s < S; s++)
        CHECK(vsml_baseline_episode(&c, 9, (uint32_t)s, x, streams + 2 * s * T, T, cb + s * T,
                                    lb + s * T) == 0, "episode");
    CHECK(!memcmp(ca, cb, sizeof(ca)) && !memcmp(la, lb, sizeof(la)), "threads differ");
}

int main(void)
{
    compare(VSML_OPT_SGD, HID);
    compare(VSML_OPT_ADAM, HID);
    compare(VSML_OPT_SGD, 0);
    compare(VSML_OPT_ADAM, 0);
    init_checks();
    threads_match();
    TEST_END();
}
