/* CPU reference of spec sections 3-5, in double precision and written as
 * literally as the spec states it (messages are projected per sub-LSTM and
 * then averaged; the inbox terms are not precomputed), so that it checks the
 * device's algebraic shortcuts rather than repeating them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/log.h"
#include "vsml/ref.h"
#include "vsml/rng.h"

#define M VSML_M

typedef struct layer {
    int A, B;
    double *h, *c;   /* [A*B][N] */
    double *fwd_in;  /* [A][M] */
    double *bwd_in;  /* [B][M] */
    double *F, *Gm;  /* [B][M], [A][M] */
} layer;

float vsml_init_cell(uint64_t seed, uint32_t init_id, int k, int i, int j, int fan_in)
{
    uint32_t ctr[4] = {(uint32_t)i, (uint32_t)k | ((uint32_t)(j / 4) << 8), init_id,
                       VSML_TAG_INIT};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    vsml_philox4x32(ctr, key, out);
    return vsml_trunc_normal2(out[j % 4]) * (float)(1.0 / sqrt((double)fan_in));
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

double vsml_round_half(double x)
{
    double a = fabs(x);
    if (isnan(x))
        return x;
    if (a >= 65520.0) /* halfway between 65504, the largest half, and 2^16 */
        return copysign(INFINITY, x);
    int e;
    frexp(a, &e); /* a = m 2^e, 0.5 <= m < 1: 11 significant bits are 2^(e-11) apart */
    int q = e - 11 < -24 ? -24 : e - 11; /* below 2^-14, the subnormals' 2^-24 */
    return copysign(ldexp(nearbyint(ldexp(a, -q)), q), x);
}

static void round_state(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = vsml_round_half(v[i]);
}

static void lstm_update(const vsml_param_layout *L, const float *W, const double *fin,
                        const double *bin, double *h, double *c, double clip)
{
    int N = L->N, G = L->G;
    double z[4 * VSML_N_MAX];
    for (int g = 0; g < G; g++) {
        double s = W[L->b_lstm + g];
        for (int m = 0; m < M; m++) {
            s += fin[m] * W[L->w_lstm + m * G + g];
            s += bin[m] * W[L->w_lstm + (M + m) * G + g];
        }
        for (int j = 0; j < N; j++)
            s += h[j] * W[L->w_lstm + (2 * M + j) * G + g];
        z[g] = s;
    }
    for (int j = 0; j < N; j++) {
        double i = sigm(z[j] - 5.0), gg = tanh(z[N + j]);
        double f = sigm(z[2 * N + j] + 5.0), o = sigm(z[3 * N + j]);
        double cj = f * c[j] + i * gg;
        if (clip > 0.0)
            cj = cj < -clip ? -clip : cj > clip ? clip : cj;
        c[j] = cj;
        h[j] = o * tanh(cj);
    }
}

static void project(const float *W, size_t off_w, size_t off_b, int N, const double *h,
                    double *msg)
{
    for (int m = 0; m < M; m++) {
        double s = W[off_b + m];
        for (int j = 0; j < N; j++)
            s += h[j] * W[off_w + j * M + m];
        msg[m] = s;
    }
}

static void layer_update(const vsml_param_layout *PL, layer *L, const float *W, int ticks,
                         double clip, bool state_f16)
{
    int A = L->A, B = L->B, N = PL->N;
    for (int t = 0; t < ticks; t++)
        for (int a = 0; a < A; a++)
            for (int b = 0; b < B; b++) {
                size_t i = (size_t)a * B + b;
                lstm_update(PL, W, L->fwd_in + a * M, L->bwd_in + b * M, L->h + i * N,
                            L->c + i * N, clip);
            }
    if (state_f16) { /* the state as stored between steps; the messages read it */
        round_state(L->h, (size_t)A * B * N);
        round_state(L->c, (size_t)A * B * N);
    }
    memset(L->F, 0, sizeof(double) * B * M);
    memset(L->Gm, 0, sizeof(double) * A * M);
    double msg[M];
    for (int a = 0; a < A; a++)
        for (int b = 0; b < B; b++) {
            const double *h = L->h + ((size_t)a * B + b) * N;
            project(W, PL->w_fwd, PL->b_fwd, N, h, msg);
            for (int m = 0; m < M; m++)
                L->F[b * M + m] += msg[m] / A;
            project(W, PL->w_bwd, PL->b_bwd, N, h, msg);
            for (int m = 0; m < M; m++)
                L->Gm[a * M + m] += msg[m] / B;
        }
}

/* One sweep over the layers in the given order; returns y_hat in out[C]. */
static void sweep(layer *Ls, int K, const float *params, const vsml_model_config *cfg,
                  bool reverse, double *yhat)
{
    vsml_param_layout PL;
    vsml_param_layout_of(vsml_state_size(cfg), &PL);
    for (int n = 0; n < K; n++) {
        int k = reverse ? K - 1 - n : n;
        const float *W = params + (cfg->per_layer_params ? (size_t)k * PL.block : 0);
        layer *L = &Ls[k];
        layer_update(&PL, L, W, cfg->micro_ticks, cfg->clip_state, cfg->state_f16);
        if (k > 0)
            memcpy(Ls[k - 1].bwd_in, L->Gm, sizeof(double) * L->A * M);
        if (k < K - 1)
            memcpy(Ls[k + 1].fwd_in, L->F, sizeof(double) * L->B * M);
        else
            for (int b = 0; b < L->B; b++)
                yhat[b] = 100.0 * tanh(L->F[b * M + 1] / 100.0);
    }
}

static void free_layers(layer *Ls, int K)
{
    for (int k = 0; k < K; k++) {
        free(Ls[k].h);
        free(Ls[k].c);
        free(Ls[k].fwd_in);
        free(Ls[k].bwd_in);
        free(Ls[k].F);
        free(Ls[k].Gm);
    }
}

static int alloc_layers(layer *Ls, const vsml_model_config *cfg)
{
    memset(Ls, 0, sizeof(layer) * cfg->n_layers);
    size_t N = (size_t)vsml_state_size(cfg);
    for (int k = 0; k < cfg->n_layers; k++) {
        layer *L = &Ls[k];
        L->A = cfg->sizes[k];
        L->B = cfg->sizes[k + 1];
        size_t ab = (size_t)L->A * L->B;
        L->h = calloc(ab * N, sizeof(double));
        L->c = calloc(ab * N, sizeof(double));
        L->fwd_in = calloc((size_t)L->A * M, sizeof(double));
        L->bwd_in = calloc((size_t)L->B * M, sizeof(double));
        L->F = calloc((size_t)L->B * M, sizeof(double));
        L->Gm = calloc((size_t)L->A * M, sizeof(double));
        if (!L->h || !L->c || !L->fwd_in || !L->bwd_in || !L->F || !L->Gm) {
            vsml_err("out of memory in the CPU reference (layer %d: %zu sub-LSTMs)", k, ab);
            return -1;
        }
    }
    return 0;
}

static void init_layers(layer *Ls, const vsml_model_config *cfg, uint64_t seed, uint32_t init)
{
    int N = vsml_state_size(cfg);
    for (int k = 0; k < cfg->n_layers; k++) {
        layer *L = &Ls[k];
        size_t ab = (size_t)L->A * L->B;
        memset(L->h, 0, ab * N * sizeof(double));
        memset(L->c, 0, ab * N * sizeof(double));
        memset(L->fwd_in, 0, (size_t)L->A * M * sizeof(double));
        memset(L->bwd_in, 0, (size_t)L->B * M * sizeof(double));
        if (cfg->init_mode == VSML_INIT_ZEROS)
            continue;
        for (size_t i = 0; i < ab; i++)
            for (int j = 0; j < N / 2; j++) {
                double c0 = vsml_init_cell(seed, init, k, (int)i, j, L->A);
                L->c[i * N + j] = cfg->state_f16 ? vsml_round_half(c0) : c0;
            }
    }
}

static int run_episode(layer *Ls, const vsml_model_config *cfg, const float *params,
                        const vsml_episodes *ep, size_t r, const vsml_rollout_out *out)
{
    int K = cfg->n_layers, C = cfg->sizes[K], D = cfg->sizes[0], T = ep->T;
    init_layers(Ls, cfg, ep->seed, ep->ep_init[r]);
    double *y = calloc((size_t)C * 2, sizeof(double));
    if (!y)
        return -1;
    double *e = y + C;
    vsml_rollout_acc acc = {0};
    uint32_t s = ep->ep_stream[r];
    for (int t = 0; t < T; t++) {
        int32_t ex = ep->stream[((size_t)s * T + t) * 2];
        int32_t label = ep->stream[((size_t)s * T + t) * 2 + 1];
        const float *x = ep->x + (size_t)ex * D;
        for (int a = 0; a < D; a++)
            Ls[0].fwd_in[a * M] = x[a];
        sweep(Ls, K, params, cfg, false, y);
        vsml_rollout_step(&acc, out, r, t, T, C, y, label, e);
        double *bin = Ls[K - 1].bwd_in;
        memset(bin, 0, sizeof(double) * C * M);
        for (int b = 0; b < C; b++) {
            bin[b * M] = e[b];
            bin[b * M + 1] = cfg->feed_label && b == label ? 1.0 : 0.0;
        }
        if (cfg->backward_pass) {
            sweep(Ls, K, params, cfg, true, y);
            memset(bin, 0, sizeof(double) * C * M);
            for (int k = 0; cfg->clear_bwd && k < K - 1; k++)
                memset(Ls[k].bwd_in, 0, sizeof(double) * Ls[k].B * M);
        }
    }
    free(y);
    vsml_rollout_out_put(out, r, acc.loss_sum, acc.loss, acc.correct, acc.nonfinite);
    return 0;
}

int vsml_ref_rollout(const vsml_model_config *cfg, const float *params,
                     const vsml_episodes *ep, const vsml_rollout_out *out)
{
    if (vsml_model_config_check(cfg) != 0 || vsml_episodes_check(cfg, ep) != 0)
        return -1;
    layer Ls[VSML_MAX_LAYERS];
    if (alloc_layers(Ls, cfg) != 0) {
        free_layers(Ls, cfg->n_layers);
        return -1;
    }
    size_t R = (size_t)ep->P * ep->E, np = vsml_param_count(cfg);
    int rc = 0;
    for (size_t r = 0; r < R && rc == 0; r++)
        rc = run_episode(Ls, cfg, params + (r / (size_t)ep->E) * np, ep, r, out);
    free_layers(Ls, cfg->n_layers);
    if (rc != 0)
        vsml_err("out of memory in the CPU reference");
    return rc;
}
