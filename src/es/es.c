/* The OpenAI-ES gradient estimate and the Adam update (spec section 6). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/es.h"
#include "vsml/log.h"
#include "vsml/rng.h"
#include "vsml/util.h"

typedef struct ranked {
    float f;
    int i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->f != y->f)
        return x->f < y->f ? -1 : 1;
    return x->i - y->i;
}

int vsml_es_centered_ranks(const float *f, int n, float *out)
{
    ranked *r = malloc(sizeof(ranked) * (size_t)(n > 0 ? n : 1));
    if (!r) {
        vsml_err("out of memory ranking %d fitness values", n);
        return -1;
    }
    for (int i = 0; i < n; i++)
        r[i] = (ranked){f[i], i};
    qsort(r, (size_t)n, sizeof(ranked), cmp_ranked);
    for (int k = 0; k < n; k++)
        out[r[k].i] = n > 1 ? (float)k / (float)(n - 1) - 0.5f : 0.0f;
    free(r);
    return 0;
}

/* The per-pair weights (s+ - s-) / (2 sigma). */
static int pair_weights(const vsml_es_opts *o, int P, const float *fp, const float *fm,
                        float *w)
{
    if (!o->rank_shaping) {
        for (int j = 0; j < P; j++)
            w[j] = (fp[j] - fm[j]) / (2.0f * o->sigma);
        return 0;
    }
    float *all = malloc(sizeof(float) * 4 * (size_t)P);
    if (!all) {
        vsml_err("out of memory shaping %d fitness values", 2 * P);
        return -1;
    }
    memcpy(all, fp, sizeof(float) * P);
    memcpy(all + P, fm, sizeof(float) * P);
    int rc = vsml_es_centered_ranks(all, 2 * P, all + 2 * P);
    for (int j = 0; j < P && rc == 0; j++)
        w[j] = (all[2 * P + j] - all[3 * P + j]) / (2.0f * o->sigma);
    free(all);
    return rc;
}

/* The gradient sum over pairs, for parameters in blocks of GRAD_BLOCK on
 * all CPUs: every parameter sums its pairs in order 0..P-1 in double,
 * whatever the thread count (bitwise the same result). */
#define GRAD_BLOCK 256

typedef struct grad_job {
    size_t n;
    uint64_t seed;
    uint32_t step;
    int P;
    const float *w;
    float *g;
} grad_job;

static int grad_block(void *ctx, size_t blk)
{
    const grad_job *j = ctx;
    double acc[GRAD_BLOCK] = {0};
    size_t b = blk * GRAD_BLOCK, m = j->n - b < GRAD_BLOCK ? j->n - b : GRAD_BLOCK;
    for (int p = 0; p < j->P; p++) {
        double w = j->w[p];
        if (w == 0.0)
            continue;
        for (size_t k = 0; k < m; k += 2) {
            float e[2];
            vsml_es_noise2(j->seed, j->step, (uint32_t)p, (uint32_t)((b + k) >> 1), e);
            acc[k] += (double)e[0] * w;
            if (k + 1 < m)
                acc[k + 1] += (double)e[1] * w;
        }
    }
    for (size_t k = 0; k < m; k++)
        j->g[b + k] = (float)(acc[k] / j->P);
    return 0;
}

int vsml_es_gradient(const vsml_es_opts *o, size_t n, uint64_t seed, uint32_t step, int P,
                     const float *f_plus, const float *f_minus, float *g, float *terms)
{
    if (P < 1) {
        vsml_err("the ES gradient needs at least one pair (got %d)", P);
        return -1;
    }
    float *w = malloc(sizeof(float) * (size_t)P);
    if (!w) {
        vsml_err("out of memory for the ES gradient (%d pairs)", P);
        return -1;
    }
    int rc = pair_weights(o, P, f_plus, f_minus, w);
    if (rc == 0) {
        grad_job j = {.n = n, .seed = seed, .step = step, .P = P, .w = w, .g = g};
        rc = vsml_parallel_for((n + GRAD_BLOCK - 1) / GRAD_BLOCK, 0, grad_block, &j);
    }
    if (terms && rc == 0)
        memcpy(terms, w, sizeof(float) * P);
    free(w);
    return rc;
}

double vsml_es_adam(const vsml_es_opts *o, size_t n, uint64_t t, float *theta, float *m,
                    float *v, float *g)
{
    if (o->weight_decay > 0.0f)
        for (size_t i = 0; i < n; i++)
            g[i] += o->weight_decay * theta[i];
    double norm2 = 0;
    for (size_t i = 0; i < n; i++)
        norm2 += (double)g[i] * g[i];
    double norm = sqrt(norm2);
    if (o->grad_clip > 0.0f && norm > o->grad_clip) {
        float s = (float)(o->grad_clip / norm);
        for (size_t i = 0; i < n; i++)
            g[i] *= s;
    }
    double bc1 = 1.0 - pow(o->beta1, (double)t), bc2 = 1.0 - pow(o->beta2, (double)t);
    float step = (float)(o->lr * sqrt(bc2) / bc1);
    for (size_t i = 0; i < n; i++) {
        m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * g[i];
        v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * g[i] * g[i];
        theta[i] -= step * m[i] / (sqrtf(v[i]) + o->adam_eps);
    }
    return norm;
}
