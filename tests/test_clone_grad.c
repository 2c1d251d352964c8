/* The hand-derived gradient of one cloning step (forward sweep, backward
 * sweep, message heads, cell targets; src/clone/) against central finite
 * differences, on random parameters, states, inputs and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "vsml/clone.h"
#include "vsml/rng.h"
#include "test_worst.h"

static int check(int N, int ticks, uint64_t seed)
{
    vsml_clone_opts o;
    vsml_clone_opts_default(&o);
    o.N = N;
    o.micro_ticks = ticks;
    o.b_dim = N / 2;
    o.clip = 0.0; /* the clip's kink is not differentiable */
    o.bwd_weight = 1.3;
    o.state_weight = 2.0;
    o.gain = 1.7;
    o.lr_bias = 0.3;
    vsml_clone_layout L;
    vsml_clone_layout_make(N, &L);
    vsml_rng r;
    vsml_rng_init(&r, seed, 7, VSML_TAG_DATA);
    double *p = malloc(sizeof(double) * L.total), *g = calloc(L.total, sizeof(double));
    double *h = malloc(sizeof(double) * 2 * N), *c = h + N;
    vsml_clone_work *w = vsml_clone_work_new(&o);
    if (!p || !g || !h || !w)
        return 1;
    /* weights larger than the initialisation so that every gate matters */
    for (size_t i = 0; i < L.total; i++)
        p[i] = 0.6 * vsml_rng_normal(&r) / sqrt((double)(i < L.b_lstm ? L.rows / 4 : N / 2));
    for (int j = 0; j < N; j++) {
        h[j] = 0.8 * (2 * vsml_rng_uniform(&r) - 1);
        c[j] = 1.5 * vsml_rng_normal(&r);
    }
    vsml_clone_sample s = {h, c, 1.3 * vsml_rng_normal(&r), 2 * vsml_rng_uniform(&r) - 1,
                           0.5 * vsml_rng_normal(&r)};
    vsml_clone_result res;
    vsml_clone_step(&o, p, &s, w, &res, g, NULL, NULL);
    int fails = 0, checked = 0;
    double worst = 0, eps = 1e-5, gmax = 0;
    for (size_t i = 0; i < L.total; i++)
        gmax = fmax(gmax, fabs(g[i])); /* (a NaN g[i] fails below) */
    /* relative error, with entries below 1e-4 of the largest one measured
     * against 1e-4 * max|g| (their finite differences are rounding noise:
     * loss * 1e-16 / eps) */
    for (size_t i = 0; i < L.total; i++) {
        /* every bias and head entry, one in 7 of the LSTM weights */
        if (i < L.b_lstm && i % 7 != (size_t)seed % 7)
            continue;
        double keep = p[i];
        vsml_clone_result rp, rm;
        p[i] = keep + eps;
        vsml_clone_step(&o, p, &s, w, &rp, NULL, NULL, NULL);
        p[i] = keep - eps;
        vsml_clone_step(&o, p, &s, w, &rm, NULL, NULL, NULL);
        p[i] = keep;
        double fd = (rp.loss - rm.loss) / (2 * eps);
        double err = fabs(fd - g[i]) / fmax(fabs(fd) + fabs(g[i]), 1e-4 * gmax);
        worst = test_worst(worst, err);
        checked++;
        if (!(err <= 1e-5)) { /* a NaN gradient fails too */
            if (fails++ < 5)
                fprintf(stderr, "N=%d ticks=%d param %zu: analytic %.10g, finite diff %.10g\n",
                        N, ticks, i, g[i], fd);
        }
    }
    printf("N=%d ticks=%d: %d gradient entries, worst relative error %.2e (bound 1e-5), "
           "loss %.4g, max |g| %.3g\n", N, ticks, checked, worst, res.loss, gmax);
    free(p);
    free(g);
    free(h);
    vsml_clone_work_free(w);
    return fails != 0;
}

int main(void)
{
    int fails = 0;
    fails += check(8, 1, 1);
    fails += check(8, 2, 2);
    fails += check(16, 2, 3);
    fails += check(64, 1, 4);
    if (fails)
        fprintf(stderr, "test_clone_grad: %d cases FAILED\n", fails);
    return fails != 0;
}
