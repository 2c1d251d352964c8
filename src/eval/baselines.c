/* Online SGD and Adam baselines (spec section 8): a linear layer or one
 * hidden layer of tanh units, batch size 1, cross-entropy on outputs bounded
 * by bound * tanh(z / bound), prequential (predict, then learn).
 * Plain float loops over contiguous rows, so that the compiler vectorises
 * them; the optimiser step is fused with the gradient (no gradient buffer). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "vsml/eval.h"
#include "vsml/log.h"
#include "vsml/rng.h"
#include "vsml/util.h"

/* The hot loops: vectorised with the -O3 cost model (-O2's "very cheap"
 * model skips loops that need a scalar epilogue), sqrtf without the errno
 * branch. Measured 3-4x faster than plain -O2 on x86-64. */
#if defined(__GNUC__) && !defined(__clang__)
#define VSML_FAST_LOOP __attribute__((optimize("O3", "no-math-errno")))
#else
#define VSML_FAST_LOOP
#endif

struct vsml_baseline {
    vsml_baseline_config c;
    size_t n;              /* parameter count */
    float *p, *m, *v;      /* parameters, Adam moments (NULL for SGD) */
    float *h, *dh;         /* hidden activations and their deltas [hidden] */
    float *t, *dz;         /* tanh(z / bound) and output deltas [outputs] */
    long step;
};

void vsml_baseline_config_default(vsml_baseline_config *c, enum vsml_optimizer opt, int inputs,
                                  int hidden, int outputs)
{
    *c = (vsml_baseline_config){.inputs = inputs, .hidden = hidden, .outputs = outputs,
                                .opt = opt, .lr = opt == VSML_OPT_ADAM ? 1e-3f : 1e-2f,
                                .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .bound = 100.0f};
}

static size_t param_count(const vsml_baseline_config *c)
{
    size_t in = (size_t)c->inputs, h = (size_t)c->hidden, out = (size_t)c->outputs;
    return c->hidden ? in * h + h + h * out + out : in * out + out;
}

static void init_dense(vsml_rng *r, float *w, int A, int B)
{
    float std = 1.0f / sqrtf((float)A);
    for (size_t i = 0; i < (size_t)A * B; i++)
        w[i] = (float)vsml_rng_trunc_normal(r) * std;
    memset(w + (size_t)A * B, 0, sizeof(float) * (size_t)B);
}

int vsml_baseline_create(const vsml_baseline_config *c, uint64_t seed, uint32_t stream,
                         vsml_baseline **out)
{
    *out = NULL;
    if (c->inputs < 1 || c->outputs < 1 || c->hidden < 0 || !(c->lr > 0) || !(c->bound > 0)) {
        vsml_err("baseline: bad configuration (%d inputs, %d hidden, %d outputs, lr %g)",
                 c->inputs, c->hidden, c->outputs, (double)c->lr);
        return -1;
    }
    vsml_baseline *b = calloc(1, sizeof(*b));
    size_t n = param_count(c), nh = c->hidden ? (size_t)c->hidden : 1;
    bool adam = c->opt == VSML_OPT_ADAM;
    if (b) {
        b->p = malloc(sizeof(float) * n);
        b->m = adam ? calloc(n, sizeof(float)) : NULL;
        b->v = adam ? calloc(n, sizeof(float)) : NULL;
        b->h = malloc(sizeof(float) * nh);
        b->dh = malloc(sizeof(float) * nh);
        b->t = malloc(sizeof(float) * (size_t)c->outputs);
        b->dz = malloc(sizeof(float) * (size_t)c->outputs);
    }
    if (!b || !b->p || (adam && (!b->m || !b->v)) || !b->h || !b->dh || !b->t || !b->dz) {
        vsml_baseline_destroy(&b);
        vsml_err("out of memory for a baseline of %zu parameters", n);
        return -1;
    }
    b->c = *c;
    b->n = n;
    vsml_rng r;
    vsml_rng_init(&r, seed, stream, VSML_TAG_BASELINE);
    if (c->hidden) {
        init_dense(&r, b->p, c->inputs, c->hidden);
        init_dense(&r, b->p + (size_t)c->inputs * c->hidden + c->hidden, c->hidden, c->outputs);
    } else {
        init_dense(&r, b->p, c->inputs, c->outputs);
    }
    *out = b;
    return 0;
}

void vsml_baseline_destroy(vsml_baseline **pb)
{
    vsml_baseline *b = *pb;
    if (!b)
        return;
    free(b->p);
    free(b->m);
    free(b->v);
    free(b->h);
    free(b->dh);
    free(b->t);
    free(b->dz);
    free(b);
    *pb = NULL;
}

float *vsml_baseline_params(vsml_baseline *b, size_t *count)
{
    if (count)
        *count = b->n;
    return b->p;
}

/* out[B] = in[A] . W[A][B] + bias[B], W followed by bias in memory. */
VSML_FAST_LOOP
static void dense_fwd(const float *restrict w, const float *restrict in, int A, int B,
                      float *restrict out)
{
    const float *bias = w + (size_t)A * B;
    memcpy(out, bias, sizeof(float) * (size_t)B);
    for (int a = 0; a < A; a++) {
        const float xa = in[a];
        const float *restrict row = w + (size_t)a * B;
        for (int j = 0; j < B; j++)
            out[j] += xa * row[j];
    }
}

/* Forward pass: b->h (hidden case), b->t = tanh(z / bound), y = bound * t. */
static void forward(vsml_baseline *b, const float *x, float *y)
{
    const vsml_baseline_config *c = &b->c;
    const float *w_out = b->p;
    const float *in = x;
    int A = c->inputs;
    if (c->hidden) {
        dense_fwd(b->p, x, c->inputs, c->hidden, b->h);
        for (int j = 0; j < c->hidden; j++)
            b->h[j] = tanhf(b->h[j]);
        w_out = b->p + (size_t)c->inputs * c->hidden + c->hidden;
        in = b->h;
        A = c->hidden;
    }
    dense_fwd(w_out, in, A, c->outputs, b->t);
    for (int k = 0; k < c->outputs; k++) {
        b->t[k] = tanhf(b->t[k] / c->bound);
        y[k] = c->bound * b->t[k];
    }
}

void vsml_baseline_predict(vsml_baseline *b, const float *x, float *y)
{
    forward(b, x, y);
}

/* Cross-entropy of softmax(y) against label; b->dz = dL/dz. */
static float output_delta(vsml_baseline *b, const float *y, int label)
{
    int C = b->c.outputs;
    float mx = y[0], sum = 0;
    for (int k = 1; k < C; k++)
        mx = y[k] > mx ? y[k] : mx;
    for (int k = 0; k < C; k++)
        sum += expf(y[k] - mx);
    for (int k = 0; k < C; k++) {
        float p = expf(y[k] - mx) / sum - (k == label ? 1.0f : 0.0f);
        b->dz[k] = p * (1.0f - b->t[k] * b->t[k]);
    }
    return logf(sum) + mx - y[label];
}

/* Hidden deltas through the (not yet updated) output weights. */
VSML_FAST_LOOP
static void hidden_delta(vsml_baseline *b)
{
    const vsml_baseline_config *c = &b->c;
    const float *w2 = b->p + (size_t)c->inputs * c->hidden + c->hidden;
    for (int j = 0; j < c->hidden; j++) {
        const float *row = w2 + (size_t)j * c->outputs;
        float s = 0;
        for (int k = 0; k < c->outputs; k++)
            s += row[k] * b->dz[k];
        b->dh[j] = s * (1.0f - b->h[j] * b->h[j]);
    }
}

/* SGD on a dense block: W[a][j] -= lr * in[a] * d[j], bias -= lr * d. */
VSML_FAST_LOOP
static void sgd_dense(float *restrict w, const float *restrict in, const float *restrict d,
                      int A, int B, float lr)
{
    for (int a = 0; a < A; a++) {
        const float s = lr * in[a];
        float *restrict row = w + (size_t)a * B;
        for (int j = 0; j < B; j++)
            row[j] -= s * d[j];
    }
    float *restrict bias = w + (size_t)A * B;
    for (int j = 0; j < B; j++)
        bias[j] -= lr * d[j];
}

typedef struct adam_k {
    float b1, b2, lr_t, c2, eps; /* lr_t = lr / (1 - b1^t), c2 = 1 / sqrt(1 - b2^t) */
} adam_k;

/* p -= lr_t * m / (sqrt(v) * c2 + eps) after the moment updates. GCC 12
 * does not vectorise sqrtf under -fmath-errno (the default, and the
 * optimize attribute cannot lift it), so x86 gets an SSE loop; the scalar
 * loop (the tail, other targets) computes the same operations in the same
 * order. */
VSML_FAST_LOOP
static void adam_row(float *restrict p, float *restrict m, float *restrict v, float s,
                     const float *restrict d, int B, const adam_k *k)
{
    const float b1 = k->b1, b2 = k->b2, lr_t = k->lr_t, c2 = k->c2, eps = k->eps;
    int j = 0;
#if defined(__SSE2__)
    const __m128 vs = _mm_set1_ps(s), vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2),
                 va1 = _mm_set1_ps(1.0f - b1), va2 = _mm_set1_ps(1.0f - b2),
                 vlr = _mm_set1_ps(lr_t), vc2 = _mm_set1_ps(c2), veps = _mm_set1_ps(eps);
    for (; j + 4 <= B; j += 4) {
        __m128 g = _mm_mul_ps(vs, _mm_loadu_ps(d + j));
        __m128 mj = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + j)), _mm_mul_ps(va1, g));
        __m128 vj = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + j)),
                               _mm_mul_ps(_mm_mul_ps(va2, g), g));
        _mm_storeu_ps(m + j, mj);
        _mm_storeu_ps(v + j, vj);
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vj), vc2), veps);
        _mm_storeu_ps(p + j, _mm_sub_ps(_mm_loadu_ps(p + j), _mm_div_ps(_mm_mul_ps(vlr, mj), den)));
    }
#endif
    for (; j < B; j++) {
        float g = s * d[j];
        float mj = b1 * m[j] + (1.0f - b1) * g;
        float vj = b2 * v[j] + (1.0f - b2) * g * g;
        m[j] = mj;
        v[j] = vj;
        p[j] -= lr_t * mj / (sqrtf(vj) * c2 + eps);
    }
}

/* Adam on a dense block: gradient in[a] * d[j] (bias: d[j]). */
static void adam_dense(vsml_baseline *b, size_t off, const float *in, const float *d, int A,
                       int B, const adam_k *k)
{
    for (int a = 0; a < A; a++) {
        size_t o = off + (size_t)a * B;
        adam_row(b->p + o, b->m + o, b->v + o, in[a], d, B, k);
    }
    size_t o = off + (size_t)A * B;
    adam_row(b->p + o, b->m + o, b->v + o, 1.0f, d, B, k);
}

static void update(vsml_baseline *b, const float *x)
{
    const vsml_baseline_config *c = &b->c;
    int H = c->hidden, C = c->outputs, I = c->inputs;
    size_t off_out = H ? (size_t)I * H + H : 0;
    const float *in_out = H ? b->h : x;
    int A_out = H ? H : I;
    if (c->opt == VSML_OPT_SGD) {
        sgd_dense(b->p + off_out, in_out, b->dz, A_out, C, c->lr);
        if (H)
            sgd_dense(b->p, x, b->dh, I, H, c->lr);
        return;
    }
    b->step++;
    adam_k k = {.b1 = c->beta1, .b2 = c->beta2, .eps = c->eps,
                .lr_t = (float)(c->lr / (1.0 - pow(c->beta1, (double)b->step))),
                .c2 = (float)(1.0 / sqrt(1.0 - pow(c->beta2, (double)b->step)))};
    adam_dense(b, off_out, in_out, b->dz, A_out, C, &k);
    if (H)
        adam_dense(b, 0, x, b->dh, I, H, &k);
}

float vsml_baseline_step(vsml_baseline *b, const float *x, int label, float *y)
{
    float ybuf[256];
    float *yy = y ? y : ybuf;
    if (!y && b->c.outputs > 256) {
        yy = malloc(sizeof(float) * (size_t)b->c.outputs);
        if (!yy)
            return NAN;
    }
    forward(b, x, yy);
    float loss = output_delta(b, yy, label);
    if (b->c.hidden)
        hidden_delta(b);
    update(b, x);
    if (yy != y && yy != ybuf)
        free(yy);
    return loss;
}

int vsml_baseline_episode(const vsml_baseline_config *c, uint64_t seed, uint32_t stream_id,
                          const float *x, const int32_t *stream, int T, uint8_t *correct,
                          float *loss)
{
    vsml_baseline *b;
    if (vsml_baseline_create(c, seed, stream_id, &b) != 0)
        return -1;
    float *y = malloc(sizeof(float) * (size_t)c->outputs);
    if (!y) {
        vsml_baseline_destroy(&b);
        vsml_err("out of memory");
        return -1;
    }
    for (int t = 0; t < T; t++) {
        int ex = stream[2 * t], label = stream[2 * t + 1];
        float l = vsml_baseline_step(b, x + (size_t)ex * c->inputs, label, y);
        if (loss)
            loss[t] = l;
        if (correct) {
            int arg = 0;
            for (int k = 1; k < c->outputs; k++)
                if (y[k] > y[arg])
                    arg = k;
            correct[t] = arg == label;
        }
    }
    free(y);
    vsml_baseline_destroy(&b);
    return 0;
}

/* ---- many seeds on many threads ---- */

typedef struct run_job {
    const vsml_baseline_config *c;
    uint64_t seed;
    const float *x;
    const int32_t *streams;
    int T;
    uint8_t *correct;
    float *loss;
} run_job;

static int run_seed(void *ctx, size_t s)
{
    const run_job *j = ctx;
    size_t o = s * (size_t)j->T;
    return vsml_baseline_episode(j->c, j->seed, (uint32_t)s, j->x, j->streams + 2 * o, j->T,
                                 j->correct ? j->correct + o : NULL,
                                 j->loss ? j->loss + o : NULL);
}

int vsml_baseline_run(const vsml_baseline_config *c, uint64_t seed, const float *x,
                      const int32_t *streams, int S, int T, int n_threads, uint8_t *correct,
                      float *loss)
{
    run_job j = {.c = c, .seed = seed, .x = x, .streams = streams, .T = T,
                 .correct = correct, .loss = loss};
    return vsml_parallel_for(S > 0 ? (size_t)S : 0, n_threads, run_seed, &j);
}
