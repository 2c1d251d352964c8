/* A fast CPU rollout in single precision (include/vsml/clone.h): the
 * semantics of the CPU reference (src/model/ref.c, spec sections 3-5) with
 * the device's algebra (inbox terms computed once per step, h averaged
 * before the linear heads), episodes spread over threads. For meta-testing
 * parameters of a state size the device has no kernel for, and on machines
 * without a device. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/clone.h"
#include "vsml/log.h"
#include "vsml/ref.h"
#include "vsml/rng.h"

#define M VSML_M

typedef struct flayer {
    int A, B;
    float *h, *c;          /* [A*B][N] */
    float *fwd_in, *bwd_in;/* [A][M], [B][M] */
    float *U, *V;          /* [A][G], [B][G] */
    float *hf, *hg;        /* [B][N], [A][N] */
    float *F, *Gm;         /* [B][M], [A][M] */
} flayer;

typedef struct rctx {
    const vsml_model_config *cfg;
    const float *params;
    const vsml_episodes *ep;
    const vsml_rollout_out *out;
    vsml_param_layout PL;
    pthread_mutex_t mu;
    size_t next, R;
    int failed;
    vsml_cpu_probe *probe;
} rctx;

/* A worker's probe state: sums, the cells' w and b at the start of the
 * step, the ground-truth error, records of the current step. */
typedef struct pstate {
    vsml_cpu_probe acc;
    float *w0[VSML_MAX_LAYERS], *b0[VSML_MAX_LAYERS];
    double *gt;
    vsml_clone_rec *pend;
    int *pend_item;
    int n_pend;
} pstate;


/* The recurrent part of the gates of four sub-LSTMs at once, register
 * blocked: z[q] = u + v[q] + h[q] . W_h, 16 gates at a time in GCC/clang
 * vector types (8 floats), so every row of W_h is loaded once per four
 * sub-LSTMs. The same code is compiled twice, for AVX2 where the CPU has
 * it, and for the baseline instruction set. G is a multiple of 16. */
typedef float v8f __attribute__((vector_size(32)));
#define LD8(dst, p) memcpy(&(dst), (p), sizeof(v8f))
#define ST8(p, src) memcpy((p), &(src), sizeof(v8f))

static inline __attribute__((always_inline)) void gates4_body(int N, int G, const float *Wh,
                                                              const float *u,
                                                              const float *const *v,
                                                              const float *const *h,
                                                              float (*z)[4 * VSML_N_MAX])
{
    for (int g = 0; g < G; g += 16) {
        v8f ul, uh, a0, b0, a1, b1, a2, b2, a3, b3;
        LD8(ul, u + g);
        LD8(uh, u + g + 8);
        LD8(a0, v[0] + g);
        LD8(b0, v[0] + g + 8);
        LD8(a1, v[1] + g);
        LD8(b1, v[1] + g + 8);
        LD8(a2, v[2] + g);
        LD8(b2, v[2] + g + 8);
        LD8(a3, v[3] + g);
        LD8(b3, v[3] + g + 8);
        a0 += ul;
        b0 += uh;
        a1 += ul;
        b1 += uh;
        a2 += ul;
        b2 += uh;
        a3 += ul;
        b3 += uh;
        const float *w = Wh + g;
        for (int j = 0; j < N; j++, w += G) {
            v8f wl, wh;
            LD8(wl, w);
            LD8(wh, w + 8);
            float h0 = h[0][j], h1 = h[1][j], h2 = h[2][j], h3 = h[3][j];
            a0 += h0 * wl;
            b0 += h0 * wh;
            a1 += h1 * wl;
            b1 += h1 * wh;
            a2 += h2 * wl;
            b2 += h2 * wh;
            a3 += h3 * wl;
            b3 += h3 * wh;
        }
        ST8(z[0] + g, a0);
        ST8(z[0] + g + 8, b0);
        ST8(z[1] + g, a1);
        ST8(z[1] + g + 8, b1);
        ST8(z[2] + g, a2);
        ST8(z[2] + g + 8, b2);
        ST8(z[3] + g, a3);
        ST8(z[3] + g + 8, b3);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void gates4_avx2(int N, int G, const float *Wh,
                                                        const float *u, const float *const *v,
                                                        const float *const *h,
                                                        float (*z)[4 * VSML_N_MAX])
{
    gates4_body(N, G, Wh, u, v, h, z);
}
#define HAVE_AVX2_PATH 1
#endif

static void gates4_base(int N, int G, const float *Wh, const float *u, const float *const *v,
                        const float *const *h, float (*z)[4 * VSML_N_MAX])
{
    gates4_body(N, G, Wh, u, v, h, z);
}


/* expf for 8 lanes (Cephes' polynomial, relative error about 2e-7 on
 * [-87, 87]; arguments clamped there), and the element-wise part of a tick
 * for 8 cells at a time. */
typedef int32_t v8i __attribute__((vector_size(32)));
/* Vectors go through pointers: passing them by value without AVX enabled
 * would change the ABI (and -Wpsabi says so). */
static inline __attribute__((always_inline)) void vsel(v8f *r, const v8i *m, const v8f *a,
                                                       const v8f *b)
{
    v8i ai, bi, ri;
    memcpy(&ai, a, sizeof(ai));
    memcpy(&bi, b, sizeof(bi));
    ri = (*m & ai) | (~*m & bi);
    memcpy(r, &ri, sizeof(ri));
}

static inline __attribute__((always_inline)) void vexp(v8f *out, const v8f *in)
{
    v8f x = *in, hi = x * 0.0f + 88.0f, lo = x * 0.0f - 88.0f;
    v8i m = x > hi;
    vsel(&x, &m, &hi, &x);
    m = x < lo;
    vsel(&x, &m, &lo, &x);
    v8f fx = x * 1.44269504088896341f + 0.5f;
    v8i n = __builtin_convertvector(fx, v8i); /* truncation */
    v8f fn = __builtin_convertvector(n, v8f), fm = fn - 1.0f;
    m = fn > fx;
    vsel(&fn, &m, &fm, &fn); /* floor */
    n = __builtin_convertvector(fn, v8i);
    x = x - fn * 0.693359375f;
    x = x + fn * 2.12194440e-4f;
    v8f y = 1.9875691500e-4f * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + x + 1.0f;
    v8i e = (n + 127) << 23;
    v8f p2;
    memcpy(&p2, &e, sizeof(p2));
    *out = y * p2;
}

static inline __attribute__((always_inline)) void cells_body(int N, const float *z, float *c,
                                                             float *h, float clip)
{
    for (int j = 0; j < N; j += 8) {
        v8f zi, zg, zf, zo, cj, t;
        LD8(zi, z + j);
        LD8(zg, z + N + j);
        LD8(zf, z + 2 * N + j);
        LD8(zo, z + 3 * N + j);
        LD8(cj, c + j);
        v8f ai = 5.0f - zi, ag = -2.0f * zg, af = -5.0f - zf, ao = -zo;
        vexp(&ai, &ai);
        vexp(&ag, &ag);
        vexp(&af, &af);
        vexp(&ao, &ao);
        v8f i = 1.0f / (1.0f + ai), g = 2.0f / (1.0f + ag) - 1.0f;
        v8f f = 1.0f / (1.0f + af), o = 1.0f / (1.0f + ao);
        cj = f * cj + i * g;
        if (clip > 0.0f) {
            v8f lo = cj * 0.0f - clip, hi = cj * 0.0f + clip;
            v8i m = cj < lo;
            vsel(&cj, &m, &lo, &cj);
            m = cj > hi;
            vsel(&cj, &m, &hi, &cj);
        }
        t = -2.0f * cj;
        vexp(&t, &t);
        v8f hj = o * (2.0f / (1.0f + t) - 1.0f);
        ST8(c + j, cj);
        ST8(h + j, hj);
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void cells_avx2(int N, const float *z, float *c, float *h,
                                                       float clip)
{
    cells_body(N, z, c, h, clip);
}
#endif

static void cells_base(int N, const float *z, float *c, float *h, float clip)
{
    cells_body(N, z, c, h, clip);
}

static bool use_avx2(void)
{
#ifdef HAVE_AVX2_PATH
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

static void gates4(int N, int G, const float *Wh, const float *u, const float *const *v,
                   const float *const *h, float (*z)[4 * VSML_N_MAX])
{
#ifdef HAVE_AVX2_PATH
    if (use_avx2()) {
        gates4_avx2(N, G, Wh, u, v, h, z);
        return;
    }
#endif
    gates4_base(N, G, Wh, u, v, h, z);
}

static void layer_update(const vsml_param_layout *PL, flayer *L, const float *W, int ticks,
                         float clip)
{
    int A = L->A, B = L->B, N = PL->N, G = PL->G;
    const float *Wl = W + PL->w_lstm, *Wh = Wl + (size_t)2 * M * G;
    for (int a = 0; a < A; a++) {
        float *u = L->U + (size_t)a * G;
        memcpy(u, W + PL->b_lstm, sizeof(float) * G);
        for (int m = 0; m < M; m++) {
            float v = L->fwd_in[a * M + m];
            if (v != 0.0f)
                for (int g = 0; g < G; g++)
                    u[g] += v * Wl[(size_t)m * G + g];
        }
    }
    for (int b = 0; b < B; b++) {
        float *v = L->V + (size_t)b * G;
        memset(v, 0, sizeof(float) * G);
        for (int m = 0; m < M; m++) {
            float e = L->bwd_in[b * M + m];
            if (e != 0.0f)
                for (int g = 0; g < G; g++)
                    v[g] += e * Wl[(size_t)(M + m) * G + g];
        }
    }
    float z[4][4 * VSML_N_MAX];
    for (int a = 0; a < A; a++)
        for (int b0 = 0; b0 < B; b0 += 4) {
            int nb = B - b0 < 4 ? B - b0 : 4;
            const float *u = L->U + (size_t)a * G, *v[4], *hs[4];
            float *h[4], *c[4];
            for (int q = 0; q < 4; q++) { /* a short group repeats its last item */
                int b = b0 + (q < nb ? q : nb - 1);
                h[q] = L->h + ((size_t)a * B + b) * N;
                c[q] = L->c + ((size_t)a * B + b) * N;
                v[q] = L->V + (size_t)b * G;
                hs[q] = h[q];
            }
            for (int t = 0; t < ticks; t++) {
                gates4(N, G, Wh, u, v, hs, z);
                for (int q = 0; q < nb; q++)
#ifdef HAVE_AVX2_PATH
                    if (use_avx2())
                        cells_avx2(N, z[q], c[q], h[q], clip);
                    else
#endif
                        cells_base(N, z[q], c[q], h[q], clip);
            }
        }
    memset(L->hf, 0, sizeof(float) * B * N);
    memset(L->hg, 0, sizeof(float) * A * N);
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++) {
            const float *h = L->h + ((size_t)a * B + b) * N;
            for (int j = 0; j < N; j++) {
                L->hf[b * N + j] += h[j];
                L->hg[a * N + j] += h[j];
            }
        }
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++) {
            float s = 0.0f;
            for (int j = 0; j < N; j++)
                s += L->hf[b * N + j] * W[PL->w_fwd + (size_t)j * M + m];
            L->F[b * M + m] = s / (float)A + W[PL->b_fwd + m];
        }
    for (int a = 0; a < A; a++)
        for (int m = 0; m < M; m++) {
            float s = 0.0f;
            for (int j = 0; j < N; j++)
                s += L->hg[a * N + j] * W[PL->w_bwd + (size_t)j * M + m];
            L->Gm[a * M + m] = s / (float)B + W[PL->b_bwd + m];
        }
}

/* Probe: records the inboxes (and, in the forward sweep, the start state)
 * of the chosen sub-LSTMs of layer k before its update. */
static void probe_before(const rctx *x, pstate *ps, const flayer *L, int k, bool reverse)
{
    int N = x->PL.N;
    for (int q = 0; q < ps->n_pend; q++) {
        vsml_clone_rec *rc = &ps->pend[q];
        if (rc->layer != k)
            continue;
        int i = ps->pend_item[q], a = i / L->B, b = i % L->B;
        if (!reverse) {
            memcpy(rc->h, L->h + (size_t)i * N, sizeof(float) * N);
            memcpy(rc->c, L->c + (size_t)i * N, sizeof(float) * N);
            memcpy(rc->fin, L->fwd_in + a * M, sizeof(float) * M);
            memcpy(rc->bin_fwd, L->bwd_in + b * M, sizeof(float) * M);
        } else {
            memcpy(rc->bin_bwd, L->bwd_in + b * M, sizeof(float) * M);
        }
    }
}

void vsml_clone_gt_error(int A, int B, const float *x, int sx, const float *e, int se,
                         const float *w, double *g)
{
    for (int a = 0; a < A; a++) {
        double tx = tanh((double)x[(size_t)a * sx]), s = 0.0;
        for (int b = 0; b < B; b++)
            s += (double)e[(size_t)b * se] * w[(size_t)a * B + b];
        g[a] = s * (1.0 - tx * tx) / B;
    }
}

/* Probe: compares layer k's messages and updates with the imitated
 * network's; after the backward sweep of a layer k > 0, ps->gt holds the
 * error the imitated layer sends to layer k - 1. */
static void probe_after(const rctx *x, pstate *ps, const flayer *L, int k, bool reverse)
{
    const vsml_clone_opts *o = x->probe->o;
    vsml_cpu_probe *s = &ps->acc;
    int A = L->A, B = L->B, N = x->PL.N;
    const float *w0 = ps->w0[k], *b0 = ps->b0[k];
    if (!reverse) {
        for (int b = 0; b < B; b++) {
            double t = 0.0;
            for (int a = 0; a < A; a++)
                t += tanh((double)L->fwd_in[a * M]) * w0[a * B + b] + b0[a * B + b];
            t *= vsml_clone_gain_of(o, k) / A;
            double d0 = L->F[b * M] - t, d1 = L->F[b * M + 1] - t;
            s->fwd_se[k] += d0 * d0 + d1 * d1;
            s->fwd_ss[k] += 2 * t * t;
            for (int m = 2; m < M; m++)
                s->fwd_other[k] += (double)L->F[b * M + m] * L->F[b * M + m];
            s->n_fwd[k] += 1;
        }
        for (int a = 0; a < A; a++)
            s->x_ss[k] += (double)L->fwd_in[a * M] * L->fwd_in[a * M] / A;
        return;
    }
    for (int b = 0; b < B; b++)
        s->e_ss[k] += (double)L->bwd_in[b * M] * L->bwd_in[b * M] / B;
    if (k > 0)
        vsml_clone_gt_error(A, B, L->fwd_in, M, L->bwd_in, M, w0, ps->gt);
    for (int a = 0; a < A; a++) {
        double tx = tanh((double)L->fwd_in[a * M]);
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)a * B + b;
            double e = L->bwd_in[b * M], w = w0[i];
            double tgt = w - o->lr_target * tx * e, wn = o->scale * L->c[i * N + o->w_dim];
            s->upd_se[k] += (wn - tgt) * (wn - tgt);
            s->upd_ss[k] += (tgt - w) * (tgt - w);
            s->w_ss[k] += w * w;
            s->b_ss[k] += (double)ps->b0[k][i] * ps->b0[k][i];
            s->n_upd[k] += 1;
        }
        if (k > 0) {
            double g = ps->gt[a], d = L->Gm[a * M] - g;
            s->bwd_se[k] += d * d;
            s->bwd_ss[k] += g * g;
            for (int m = 1; m < M; m++)
                s->bwd_other[k] += (double)L->Gm[a * M + m] * L->Gm[a * M + m];
            s->n_bwd[k] += 1;
        }
    }
}

static void sweep(rctx *x, flayer *Ls, const float *params, bool reverse, float *yhat,
                  pstate *ps)
{
    const vsml_model_config *cfg = x->cfg;
    int K = cfg->n_layers;
    for (int n = 0; n < K; n++) {
        int k = reverse ? K - 1 - n : n;
        const float *W = params + (cfg->per_layer_params ? (size_t)k * x->PL.block : 0);
        flayer *L = &Ls[k];
        if (ps)
            probe_before(x, ps, L, k, reverse);
        layer_update(&x->PL, L, W, cfg->micro_ticks, cfg->clip_state);
        if (ps)
            probe_after(x, ps, L, k, reverse);
        if (k > 0 && ps && reverse && x->probe->gt_errors) {
            memset(Ls[k - 1].bwd_in, 0, sizeof(float) * L->A * M);
            for (int a = 0; a < L->A; a++)
                Ls[k - 1].bwd_in[a * M] = (float)ps->gt[a];
        } else if (k > 0)
            memcpy(Ls[k - 1].bwd_in, L->Gm, sizeof(float) * L->A * M);

        if (k < K - 1)
            memcpy(Ls[k + 1].fwd_in, L->F, sizeof(float) * L->B * M);
        else
            for (int b = 0; b < L->B; b++)
                yhat[b] = 100.0f * tanhf(L->F[b * M + 1] / 100.0f);
    }
}

static void free_layers(flayer *Ls, int K)
{
    for (int k = 0; k < K; k++) {
        free(Ls[k].h);
        free(Ls[k].fwd_in);
    }
}

static int alloc_layers(flayer *Ls, const vsml_model_config *cfg, int N)
{
    memset(Ls, 0, sizeof(flayer) * cfg->n_layers);
    int G = 4 * N;
    for (int k = 0; k < cfg->n_layers; k++) {
        flayer *L = &Ls[k];
        size_t A = (size_t)cfg->sizes[k], B = (size_t)cfg->sizes[k + 1];
        L->A = (int)A;
        L->B = (int)B;
        L->h = malloc(sizeof(float) * A * B * N * 2);
        L->fwd_in = malloc(sizeof(float) * ((A + B) * M * 3 + (A + B) * G + (A + B) * N));
        if (!L->h || !L->fwd_in)
            return -1;
        L->c = L->h + A * B * N;
        L->bwd_in = L->fwd_in + A * M;
        L->F = L->bwd_in + B * M;
        L->Gm = L->F + B * M;
        L->U = L->Gm + A * M;
        L->V = L->U + A * G;
        L->hf = L->V + B * G;
        L->hg = L->hf + B * N;
    }
    return 0;
}

static void probe_step_start(rctx *x, flayer *Ls, pstate *ps, size_t r, int t)
{
    const vsml_clone_opts *o = x->probe->o;
    int N = x->PL.N;
    for (int k = 0; k < x->cfg->n_layers; k++) {
        size_t ab = (size_t)Ls[k].A * Ls[k].B;
        for (size_t i = 0; i < ab; i++) {
            ps->w0[k][i] = (float)o->scale * Ls[k].c[i * N + o->w_dim];
            ps->b0[k][i] = o->no_bias ? 0.0f : (float)o->scale * Ls[k].c[i * N + o->b_dim];
        }
    }
    ps->n_pend = 0;
    int rp = x->probe->record_per_step;
    if (rp <= 0 || !x->probe->rec)
        return;
    vsml_rng rng;
    vsml_rng_init(&rng, x->probe->seed ^ ((uint64_t)t << 32), (uint32_t)r, VSML_TAG_DATA);
    for (int k = 0; k < x->cfg->n_layers; k++)
        for (int q = 0; q < rp; q++) {
            ps->pend[ps->n_pend].layer = k;
            ps->pend_item[ps->n_pend++] =
                (int)vsml_rng_below(&rng, (uint32_t)(Ls[k].A * Ls[k].B));
        }
}

static void probe_step_end(rctx *x, pstate *ps)
{
    vsml_cpu_probe *p = x->probe;
    if (ps->n_pend == 0)
        return;
    pthread_mutex_lock(&x->mu);
    for (int q = 0; q < ps->n_pend && p->rec_n < p->rec_cap; q++)
        p->rec[p->rec_n++] = ps->pend[q];
    pthread_mutex_unlock(&x->mu);
}

static void run_episode(rctx *x, flayer *Ls, size_t r, pstate *ps)
{
    const vsml_model_config *cfg = x->cfg;
    const vsml_episodes *ep = x->ep;
    const vsml_rollout_out *out = x->out;
    int K = cfg->n_layers, C = cfg->sizes[K], D = cfg->sizes[0], T = ep->T, N = x->PL.N;
    const float *params = x->params + (r / (size_t)ep->E) * vsml_param_count(cfg);
    for (int k = 0; k < K; k++) {
        flayer *L = &Ls[k];
        size_t ab = (size_t)L->A * L->B;
        memset(L->h, 0, sizeof(float) * ab * N * 2);
        memset(L->fwd_in, 0, sizeof(float) * (size_t)(L->A + L->B) * M);
        if (cfg->init_mode == VSML_INIT_ZEROS)
            continue;
        for (size_t i = 0; i < ab; i++)
            for (int j = 0; j < N / 2; j++)
                L->c[i * N + j] = vsml_init_cell(ep->seed, ep->ep_init[r], k, (int)i, j, L->A);
    }
    float y[4096];
    double yd[4096], e[4096];
    vsml_rollout_acc acc = {0};
    uint32_t s = ep->ep_stream[r];
    for (int t = 0; t < T; t++) {
        int32_t ex = ep->stream[((size_t)s * T + t) * 2];
        int32_t label = ep->stream[((size_t)s * T + t) * 2 + 1];
        const float *xx = ep->x + (size_t)ex * D;
        for (int a = 0; a < D; a++)
            Ls[0].fwd_in[a * M] = xx[a];
        if (ps)
            probe_step_start(x, Ls, ps, r, t);
        sweep(x, Ls, params, false, y, ps);
        for (int b = 0; b < C; b++)
            yd[b] = y[b];
        vsml_rollout_step(&acc, out, r, t, T, C, yd, label, e);
        float *bin = Ls[K - 1].bwd_in;
        memset(bin, 0, sizeof(float) * C * M);
        for (int b = 0; b < C; b++) {
            bin[b * M] = (float)e[b];
            bin[b * M + 1] = cfg->feed_label && b == label ? 1.0f : 0.0f;
        }
        if (cfg->backward_pass) {
            sweep(x, Ls, params, true, y, ps);
            if (ps)
                probe_step_end(x, ps);
            memset(bin, 0, sizeof(float) * C * M);
            for (int k = 0; cfg->clear_bwd && k < K - 1; k++)
                memset(Ls[k].bwd_in, 0, sizeof(float) * Ls[k].B * M);
        }
    }
    vsml_rollout_out_put(out, r, acc.loss_sum, acc.loss, acc.correct, acc.nonfinite);
}

static void free_pstate(pstate *ps, int K)
{
    for (int k = 0; k < K; k++)
        free(ps->w0[k]);
    free(ps->gt);
    free(ps->pend);
    free(ps->pend_item);
}

static int alloc_pstate(pstate *ps, const vsml_model_config *cfg, const vsml_cpu_probe *p)
{
    memset(ps, 0, sizeof(*ps));
    int K = cfg->n_layers, amax = 1, rp = p->record_per_step > 0 ? p->record_per_step : 0;
    int ok = 1;
    for (int k = 0; k < K; k++) {
        size_t ab = (size_t)cfg->sizes[k] * cfg->sizes[k + 1];
        ps->w0[k] = malloc(sizeof(float) * ab * 2);
        ok = ok && ps->w0[k];
        if (ps->w0[k])
            ps->b0[k] = ps->w0[k] + ab;
        amax = cfg->sizes[k] > amax ? cfg->sizes[k] : amax;
    }
    ps->gt = malloc(sizeof(double) * (size_t)amax);
    ps->pend = calloc((size_t)(K * rp + 1), sizeof(vsml_clone_rec));
    ps->pend_item = calloc((size_t)(K * rp + 1), sizeof(int));
    return ok && ps->gt && ps->pend && ps->pend_item ? 0 : -1;
}

static void *worker(void *arg)
{
    rctx *x = arg;
    flayer Ls[VSML_MAX_LAYERS];
    pstate ps;
    int K = x->cfg->n_layers;
    int bad = alloc_layers(Ls, x->cfg, x->PL.N) != 0;
    if (x->probe)
        bad |= alloc_pstate(&ps, x->cfg, x->probe) != 0;
    if (bad) {
        free_layers(Ls, x->cfg->n_layers);
        if (x->probe)
            free_pstate(&ps, K);
        pthread_mutex_lock(&x->mu);
        x->failed = 1;
        pthread_mutex_unlock(&x->mu);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&x->mu);
        size_t r = x->next++;
        int stop = x->failed || r >= x->R;
        pthread_mutex_unlock(&x->mu);
        if (stop)
            break;
        run_episode(x, Ls, r, x->probe ? &ps : NULL);
    }
    free_layers(Ls, x->cfg->n_layers);
    if (x->probe) { /* add this worker's sums */
        vsml_cpu_probe *p = x->probe;
        pthread_mutex_lock(&x->mu);
        for (int k = 0; k < K; k++) {
            p->fwd_se[k] += ps.acc.fwd_se[k];
            p->fwd_ss[k] += ps.acc.fwd_ss[k];
            p->bwd_se[k] += ps.acc.bwd_se[k];
            p->bwd_ss[k] += ps.acc.bwd_ss[k];
            p->upd_se[k] += ps.acc.upd_se[k];
            p->upd_ss[k] += ps.acc.upd_ss[k];
            p->x_ss[k] += ps.acc.x_ss[k];
            p->e_ss[k] += ps.acc.e_ss[k];
            p->fwd_other[k] += ps.acc.fwd_other[k];
            p->bwd_other[k] += ps.acc.bwd_other[k];
            p->w_ss[k] += ps.acc.w_ss[k];
            p->b_ss[k] += ps.acc.b_ss[k];
            p->n_fwd[k] += ps.acc.n_fwd[k];
            p->n_bwd[k] += ps.acc.n_bwd[k];
            p->n_upd[k] += ps.acc.n_upd[k];
        }
        pthread_mutex_unlock(&x->mu);
        free_pstate(&ps, K);
    }
    return NULL;
}

int vsml_cpu_rollout(const vsml_model_config *cfg, const float *params, const vsml_episodes *ep,
                     const vsml_rollout_out *out, int threads)
{
    return vsml_cpu_rollout_probe(cfg, params, ep, out, threads, NULL);
}

int vsml_cpu_rollout_probe(const vsml_model_config *cfg, const float *params,
                           const vsml_episodes *ep, const vsml_rollout_out *out, int threads,
                           vsml_cpu_probe *probe)
{
    if (vsml_model_config_check(cfg) != 0 || vsml_episodes_check(cfg, ep) != 0)
        return -1;
    if (probe && (!cfg->backward_pass || !probe->o || probe->o->w_dim >= vsml_state_size(cfg) ||
                  probe->o->b_dim >= vsml_state_size(cfg))) {
        vsml_err("the CPU rollout probe needs backward_pass and the cloning targets' cells");
        return -1;
    }
    if (cfg->sizes[cfg->n_layers] > 4096) {
        vsml_err("the CPU rollout supports at most 4096 outputs");
        return -1;
    }
    rctx x = {.cfg = cfg, .params = params, .ep = ep, .out = out,
              .R = (size_t)ep->P * ep->E, .probe = probe};
    vsml_param_layout_of(vsml_state_size(cfg), &x.PL);
    if (x.PL.G % 16) {
        vsml_err("the CPU rollout needs a state size that is a multiple of 4");
        return -1;
    }
    pthread_mutex_init(&x.mu, NULL);
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > x.R)
        threads = (int)x.R;
    pthread_t th[64];
    int started = 0;
    for (int t = 1; t < threads && t < 64; t++)
        if (pthread_create(&th[t], NULL, worker, &x) == 0)
            started = t;
        else
            break;
    worker(&x);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_destroy(&x.mu);
    if (x.failed) {
        vsml_err("out of memory in the CPU rollout");
        return -1;
    }
    return 0;
}

/* ---- the imitated network (include/vsml/clone.h) ---- */

static double clampd(double v, double lim) { return v < -lim ? -lim : v > lim ? lim : v; }

int vsml_clone_ideal_rollout(const vsml_clone_opts *o, const vsml_model_config *cfg,
                             const vsml_episodes *ep, const vsml_rollout_out *out)
{
    if (vsml_model_config_check(cfg) != 0 || vsml_episodes_check(cfg, ep) != 0)
        return -1;
    int K = cfg->n_layers, C = cfg->sizes[K], D = cfg->sizes[0], T = ep->T,
        N = vsml_state_size(cfg);
    double *w[VSML_MAX_LAYERS] = {0}, *bb[VSML_MAX_LAYERS] = {0}, *in[VSML_MAX_LAYERS + 1] = {0},
           *err[VSML_MAX_LAYERS + 1] = {0};
    int ok = 1;
    for (int k = 0; k < K; k++) {
        size_t ab = (size_t)cfg->sizes[k] * cfg->sizes[k + 1];
        ok = ok && (w[k] = malloc(sizeof(double) * ab)) && (bb[k] = malloc(sizeof(double) * ab));
    }
    for (int k = 0; k <= K; k++)
        ok = ok && (in[k] = malloc(sizeof(double) * cfg->sizes[k])) &&
             (err[k] = malloc(sizeof(double) * cfg->sizes[k]));
    double lim = o->clip > 0 ? o->scale * o->clip : HUGE_VAL;
    size_t R = (size_t)ep->P * ep->E;
    for (size_t r = 0; ok && r < R; r++) {
        for (int k = 0; k < K; k++) {
            int A = cfg->sizes[k];
            size_t ab = (size_t)A * cfg->sizes[k + 1];
            for (size_t i = 0; i < ab; i++) {
                bool rnd = cfg->init_mode != VSML_INIT_ZEROS;
                w[k][i] = rnd && o->w_dim < N / 2
                              ? o->scale * vsml_init_cell(ep->seed, ep->ep_init[r], k, (int)i,
                                                          o->w_dim, A)
                              : 0.0;
                bb[k][i] = rnd && o->b_dim < N / 2 && !o->no_bias
                               ? o->scale * vsml_init_cell(ep->seed, ep->ep_init[r], k, (int)i,
                                                           o->b_dim, A)
                               : 0.0;
            }
        }
        vsml_rollout_acc acc = {0};
        uint32_t s = ep->ep_stream[r];
        for (int t = 0; t < T; t++) {
            int32_t ex = ep->stream[((size_t)s * T + t) * 2];
            int32_t label = ep->stream[((size_t)s * T + t) * 2 + 1];
            for (int a = 0; a < D; a++)
                in[0][a] = ep->x[(size_t)ex * D + a];
            for (int k = 0; k < K; k++) {
                int A = cfg->sizes[k], B = cfg->sizes[k + 1];
                for (int b = 0; b < B; b++)
                    in[k + 1][b] = 0.0;
                for (int a = 0; a < A; a++) {
                    double tx = tanh(in[k][a]);
                    for (int b = 0; b < B; b++)
                        in[k + 1][b] += tx * w[k][(size_t)a * B + b] + bb[k][(size_t)a * B + b];
                }
                double gk = vsml_clone_gain_of(o, k);
                for (int b = 0; b < B; b++)
                    in[k + 1][b] *= gk / A;
            }
            double *y = in[K];
            for (int b = 0; b < C; b++)
                y[b] = 100.0 * tanh(y[b] / 100.0);
            vsml_rollout_step(&acc, out, r, t, T, C, y, label, err[K]);
            for (int k = K - 1; k >= 0; k--) {
                int A = cfg->sizes[k], B = cfg->sizes[k + 1];
                for (int a = 0; a < A; a++) {
                    double tx = tanh(in[k][a]), g = 0.0;
                    for (int b = 0; b < B; b++) {
                        size_t i = (size_t)a * B + b;
                        double e = err[k + 1][b];
                        g += e * w[k][i] * (1.0 - tx * tx);
                        w[k][i] = clampd(w[k][i] - o->lr_target * tx * e, lim);
                        if (!o->no_bias)
                            bb[k][i] = clampd(bb[k][i] - o->lr_bias * e, lim);
                    }
                    err[k][a] = g / B;
                }
            }
        }
        vsml_rollout_out_put(out, r, acc.loss_sum, acc.loss, acc.correct, acc.nonfinite);
    }
    for (int k = 0; k < K; k++) {
        free(w[k]);
        free(bb[k]);
    }
    for (int k = 0; k <= K; k++) {
        free(in[k]);
        free(err[k]);
    }
    if (!ok) {
        vsml_err("out of memory in the ideal rollout");
        return -1;
    }
    return 0;
}
