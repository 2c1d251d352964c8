/* Meta-test metrics (spec section 8) from a [seeds][T] correctness array. */
#include <math.h>
#include <stdlib.h>

#include "vsml/eval.h"
#include "vsml/log.h"

vsml_stat vsml_stat_of(const double *v, int n)
{
    vsml_stat s = {0, 0};
    if (n < 1)
        return s;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    s.mean = sum / n;
    for (int i = 0; i < n; i++)
        sq += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = sqrt(sq / n);
    return s;
}

static double seed_acc(const uint8_t *c, int t0, int t1)
{
    long hits = 0;
    for (int t = t0; t < t1; t++)
        hits += c[t] != 0;
    return (double)hits / (t1 - t0);
}

vsml_stat vsml_acc_range(const uint8_t *correct, int S, int T, int t0, int t1)
{
    double small[64];
    double *acc = S <= 64 ? small : malloc(sizeof(double) * (size_t)S);
    vsml_stat st = {NAN, NAN};
    if (!acc || t0 < 0 || t1 > T || t0 >= t1) {
        if (acc != small)
            free(acc);
        return st;
    }
    for (int s = 0; s < S; s++)
        acc[s] = seed_acc(correct + (size_t)s * T, t0, t1);
    st = vsml_stat_of(acc, S);
    if (acc != small)
        free(acc);
    return st;
}

int vsml_metrics_compute(const uint8_t *correct, int S, int T, int window, vsml_metrics *out)
{
    out->curve = NULL;
    if (S < 1 || T < 1 || window < 1) {
        vsml_err("metrics need seeds, steps and window >= 1 (got %d, %d, %d)", S, T, window);
        return -1;
    }
    int first = T < VSML_EVAL_FIRST_N ? T : VSML_EVAL_FIRST_N;
    int last = T / VSML_EVAL_FINAL_FRAC > 0 ? T / VSML_EVAL_FINAL_FRAC : 1;
    out->online = vsml_acc_range(correct, S, T, 0, T);
    out->first = vsml_acc_range(correct, S, T, 0, first);
    out->final = vsml_acc_range(correct, S, T, T - last, T);
    out->window = window;
    out->n_windows = (T + window - 1) / window;
    out->curve = malloc(sizeof(vsml_stat) * (size_t)out->n_windows);
    if (!out->curve) {
        vsml_err("out of memory for a learning curve of %d windows", out->n_windows);
        return -1;
    }
    for (int w = 0; w < out->n_windows; w++) {
        int t1 = (w + 1) * window < T ? (w + 1) * window : T;
        out->curve[w] = vsml_acc_range(correct, S, T, w * window, t1);
    }
    return 0;
}

void vsml_metrics_free(vsml_metrics *m)
{
    free(m->curve);
    m->curve = NULL;
    m->n_windows = 0;
}

void vsml_correct_from_logits(const float *logits, const int32_t *labels, size_t n, int C,
                              uint8_t *correct)
{
    for (size_t i = 0; i < n; i++) {
        const float *l = logits + i * (size_t)C;
        int arg = 0;
        for (int b = 1; b < C; b++)
            if (l[b] > l[arg])
                arg = b;
        correct[i] = arg == labels[i];
    }
}
