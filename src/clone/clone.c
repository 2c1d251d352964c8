/* Learning-algorithm cloning: targets, one network step of one sub-LSTM
 * with its gradient, Adam over a buffer of states (include/vsml/clone.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/clone.h"
#include "vsml/log.h"
#include "vsml/rng.h"
#include "vsml/safetensors.h"

/* Philox streams of this module (tag VSML_TAG_DATA). */
#define STREAM_INIT 0xC1000000u
#define STREAM_BUFFER 0xC2000000u
#define STREAM_STEP 0xC3000000u
#define STREAM_EVAL 0xC4000000u

void vsml_clone_opts_default(vsml_clone_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->N = 64;
    o->micro_ticks = 2;
    o->w_dim = 0;
    o->b_dim = 32;
    o->scale = 4.0;
    o->clip = 4.0;
    o->lr_target = VSML_CLONE_DEFAULT_LR_TARGET;
    o->lr_bias = 0.125;
    o->gain = 8.0;
    o->init_gain = 0.0;
    o->x_std = 1.5;
    o->w_std = 2.0;
    o->state_weight = 10.0;
    o->bwd_weight = 1.0;
    o->steps = 4000;
    o->batch = 64;
    o->group = 8;
    o->buffer = 4096;
    o->fresh = 0.25;
    o->adam_lr = 1e-3;
    o->seed = 1;
    o->log_every = 100;
    o->threads = 2;
    o->integrators = 1;
}

int vsml_clone_opts_from_file(const char *path, vsml_clone_opts *o)
{
    vsml_clone_opts_default(o);
    vsml_st st;
    if (vsml_st_read(path, &st) != 0)
        return -1;
    const char *v;
    if ((v = vsml_st_get_meta(&st, "N")))
        o->N = atoi(v);
    if ((v = vsml_st_get_meta(&st, "micro_ticks")))
        o->micro_ticks = atoi(v);
    o->b_dim = o->N / 2;
    if ((v = vsml_st_get_meta(&st, "clone_w_dim")))
        o->w_dim = atoi(v);
    if ((v = vsml_st_get_meta(&st, "clone_b_dim")))
        o->b_dim = atoi(v);
    if ((v = vsml_st_get_meta(&st, "clone_scale")))
        o->scale = atof(v);
    if ((v = vsml_st_get_meta(&st, "clip_state")))
        o->clip = atof(v);
    if ((v = vsml_st_get_meta(&st, "clone_lr_target")))
        o->lr_target = atof(v);
    v = vsml_st_get_meta(&st, "clone_gain");
    o->gain = v ? atof(v) : 1.0;
    if ((v = vsml_st_get_meta(&st, "clone_lr_bias")))
        o->lr_bias = atof(v);
    if ((v = vsml_st_get_meta(&st, "clone_no_bias")))
        o->no_bias = atoi(v);
    if ((v = vsml_st_get_meta(&st, "clone_layer_gains")))
        for (char *end = NULL; *v && o->n_layer_gains < VSML_CLONE_MAX_LAYERS; v = end) {
            o->layer_gain[o->n_layer_gains++] = strtod(v, &end);
            if (end == v)
                break;
            if (*end == ',')
                end++;
        }
    else if (!vsml_st_get_meta(&st, "clone_gain"))
        o->lr_bias = o->lr_target;
    vsml_st_free(&st);
    return vsml_clone_opts_check(o);
}

double vsml_clone_gain_of(const vsml_clone_opts *o, int k)
{
    return k >= 0 && k < o->n_layer_gains && o->layer_gain[k] > 0 ? o->layer_gain[k] : o->gain;
}

void vsml_clone_per_layer(const vsml_clone_opts *o, int n_layers, const float *block, float *out)
{
    vsml_clone_layout L;
    vsml_clone_layout_make(o->N, &L);
    for (int k = 0; k < n_layers; k++) {
        float *b = out + (size_t)k * L.total;
        memcpy(b, block, sizeof(float) * L.total);
        double s = vsml_clone_gain_of(o, k) / o->gain;
        for (size_t i = L.w_fwd; i < L.w_bwd; i++) /* W_fwd, then b_fwd */
            b[i] = (float)(b[i] * s);
    }
}

int vsml_clone_opts_check(const vsml_clone_opts *o)
{
    const char *bad = NULL;
    if (o->N < 4 || o->N > 256 || o->N % 4)
        bad = "state size must be a multiple of 4 in 4..256";
    else if (o->micro_ticks < 1 || o->micro_ticks > 8)
        bad = "micro_ticks must be 1..8";
    else if (o->w_dim < 0 || o->w_dim >= o->N || o->b_dim < 0 || o->b_dim >= o->N ||
             o->w_dim == o->b_dim)
        bad = "w_dim and b_dim must be two different cells in 0..N-1";
    else if (!(o->scale > 0) || !(o->clip >= 0) || !(o->lr_target > 0) || !(o->x_std > 0) ||
             !(o->lr_bias >= 0) || !(o->gain > 0) || !(o->init_gain >= 0) ||
             !(o->w_std >= 0) || !(o->state_weight >= 0) || !(o->bwd_weight >= 0))
        bad = "scale, lr_target and x_std must be > 0; clip, w_std and weights >= 0";
    else if (o->steps < 0)
        bad = "steps must be >= 0";
    else if (o->batch < 1 || o->group < 1 || o->batch % o->group)
        bad = "batch must be a multiple of group (both >= 1)";
    else if (o->buffer < o->batch)
        bad = "buffer must be >= batch";
    else if (o->n_layer_gains < 0 || o->n_layer_gains > VSML_CLONE_MAX_LAYERS)
        bad = "at most 8 layer gains";
    else if (!(o->fresh >= 0 && o->fresh <= 1) || !(o->stale >= 0 && o->stale <= 1) ||
             !(o->x_wide >= 0 && o->x_wide <= 1) || !(o->rec_frac >= 0 && o->rec_frac <= 1) ||
             !(o->adam_lr > 0) || o->threads < 1 ||
             o->threads > 64)
        bad = "fresh and stale in [0, 1], adam_lr > 0, threads 1..64";
    if (bad) {
        vsml_err("clone options: %s", bad);
        return -1;
    }
    return 0;
}

struct vsml_clone_work {
    vsml_clone_layout L;
    int T; /* ticks per sweep */
    vsml_clone_tick *ticks; /* 2T */
    double *buf;            /* fin, bin0, bin1 [M]; dh, dc, dh2, dc2 [N]; msg [M] */
};

vsml_clone_work *vsml_clone_work_new(const vsml_clone_opts *o)
{
    vsml_clone_work *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    vsml_clone_layout_make(o->N, &w->L);
    w->T = o->micro_ticks;
    w->ticks = calloc((size_t)2 * w->T, sizeof(vsml_clone_tick));
    w->buf = calloc((size_t)(4 * w->L.M + 4 * o->N), sizeof(double));
    int ok = w->ticks && w->buf;
    for (int t = 0; ok && t < 2 * w->T; t++)
        ok = vsml_clone_tick_alloc(&w->ticks[t], o->N, w->L.M) == 0;
    if (!ok) {
        vsml_clone_work_free(w);
        return NULL;
    }
    return w;
}

void vsml_clone_work_free(vsml_clone_work *w)
{
    if (!w)
        return;
    if (w->ticks)
        for (int t = 0; t < 2 * w->T; t++)
            vsml_clone_tick_free(&w->ticks[t]);
    free(w->ticks);
    free(w->buf);
    free(w);
}

void vsml_clone_step(const vsml_clone_opts *o, const double *p, const vsml_clone_sample *s,
                     vsml_clone_work *w, vsml_clone_result *res, double *gp, double *h_out,
                     double *c_out)
{
    const vsml_clone_layout *L = &w->L;
    int N = L->N, M = L->M, T = w->T;
    double *fin = w->buf, *bin0 = fin + M, *bin1 = bin0 + M, *msg = bin1 + M;
    double *dh = msg + M, *dc = dh + N, *dh2 = dc + N, *dc2 = dh2 + N;
    memset(fin, 0, sizeof(double) * 3 * M);
    fin[0] = s->x;
    bin0[0] = s->e_stale;
    bin1[0] = s->e;
    /* forward sweep, then the backward sweep from the state it left */
    const double *h = s->h, *c = s->c;
    for (int t = 0; t < 2 * T; t++) {
        vsml_clone_tick_fwd(L, p, fin, t < T ? bin0 : bin1, h, c, o->clip, &w->ticks[t]);
        h = w->ticks[t].h;
        c = w->ticks[t].c;
    }
    const double *h1 = w->ticks[T - 1].h;
    double tx = tanh(s->x), wv = o->scale * s->c[o->w_dim],
           bv = o->no_bias ? 0.0 : o->scale * s->c[o->b_dim];
    vsml_clone_head_fwd(L, p, L->w_fwd, L->b_fwd, h1, msg);
    res->fwd[0] = msg[0];
    res->fwd[1] = msg[1];
    res->fwd_target = o->gain * (tx * wv + bv);
    vsml_clone_head_fwd(L, p, L->w_bwd, L->b_bwd, h, msg);
    res->bwd = msg[0];
    res->bwd_target = s->e * wv * (1.0 - tx * tx);
    res->w = o->scale * c[o->w_dim];
    res->b = o->scale * c[o->b_dim];
    res->w_target = wv - o->lr_target * tx * s->e;
    res->b_target = bv - o->lr_bias * s->e;
    if (o->no_bias)
        res->b = res->b_target = 0.0;
    double ef0 = res->fwd[0] - res->fwd_target, ef1 = res->fwd[1] - res->fwd_target;
    double eb = res->bwd - res->bwd_target, ew = res->w - res->w_target,
           ebb = res->b - res->b_target;
    res->loss = 0.5 * (ef0 * ef0 + ef1 * ef1) + 0.5 * o->bwd_weight * eb * eb +
                0.5 * o->state_weight * (ew * ew + ebb * ebb);
    if (h_out)
        memcpy(h_out, h, sizeof(double) * N);
    if (c_out)
        memcpy(c_out, c, sizeof(double) * N);
    if (!gp)
        return;
    /* backward: the backward sweep's outputs first */
    memset(dh, 0, sizeof(double) * 2 * N);
    memset(msg, 0, sizeof(double) * M);
    msg[0] = o->bwd_weight * eb;
    vsml_clone_head_bwd(L, p, L->w_bwd, h, msg, gp, dh);
    dc[o->w_dim] = o->state_weight * ew * o->scale;
    dc[o->b_dim] = o->state_weight * ebb * o->scale;
    for (int t = 2 * T - 1; t >= 0; t--) {
        vsml_clone_tick_bwd(L, p, &w->ticks[t], dh, dc, gp, NULL, NULL, dh2, dc2);
        memcpy(dh, dh2, sizeof(double) * N);
        memcpy(dc, dc2, sizeof(double) * N);
        if (t == T) { /* the forward message was read from h1 */
            memset(msg, 0, sizeof(double) * M);
            msg[0] = ef0;
            msg[1] = ef1;
            vsml_clone_head_bwd(L, p, L->w_fwd, h1, msg, gp, dh);
        }
    }
}

/* ---- sampling ---- */

static void fresh_state(const vsml_clone_opts *o, vsml_rng *r, double *h, double *c)
{
    int N = o->N;
    /* the engine's initial state: h = 0, c[0 .. N/2) ~ N(0, 1/A) truncated,
     * for fan-ins A from 2 to about 1000 */
    double std = exp(log(0.03) + vsml_rng_uniform(r) * (log(0.7) - log(0.03)));
    memset(h, 0, sizeof(double) * N);
    for (int j = 0; j < N; j++)
        c[j] = j < N / 2 ? std * vsml_rng_trunc_normal(r) : 0.0;
    if (vsml_rng_uniform(r) < 0.5) { /* a weight and bias met later in an episode */
        c[o->w_dim] = o->w_std * vsml_rng_normal(r) / o->scale;
        c[o->b_dim] = 0.5 * o->w_std * vsml_rng_normal(r) / o->scale;
    }
    for (int j = 0; j < N; j++)
        c[j] = fmax(-o->clip, fmin(o->clip, c[j]));
}

static void sample_xe(const vsml_clone_opts *o, vsml_rng *r, double *x, double *e)
{
    *x = o->x_std * vsml_rng_normal(r);
    if (o->x_wide > 0 && vsml_rng_uniform(r) < o->x_wide)
        *x *= 6.0; /* the pre-activations a deeper layer receives */
    double u = vsml_rng_uniform(r);
    if (u < 0.1)
        *e = 0.0;
    else if (u < 0.4)
        *e = 0.1 * vsml_rng_normal(r);
    else
        *e = 2.0 * vsml_rng_uniform(r) - 1.0;
}

/* ---- training ---- */

typedef struct job {
    const vsml_clone_opts *o;
    const double *p;
    const double *h0, *c0; /* [batch][N] start states */
    const double *xs, *es, *ss;
    double *h1, *c1;       /* [batch][N] new states */
    vsml_clone_result *res;
    double *gp;
    vsml_clone_work *w;
    int lo, hi;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    int N = j->o->N;
    for (int i = j->lo; i < j->hi; i++) {
        vsml_clone_sample s = {j->h0 + (size_t)i * N, j->c0 + (size_t)i * N, j->xs[i], j->es[i],
                               j->ss[i]};
        vsml_clone_step(j->o, j->p, &s, j->w, &j->res[i], j->gp, j->h1 + (size_t)i * N,
                        j->c1 + (size_t)i * N);
    }
    return NULL;
}

static void init_params(const vsml_clone_opts *o, const vsml_clone_layout *L, uint64_t seed,
                        double *p)
{
    vsml_rng r;
    vsml_rng_init(&r, seed, STREAM_INIT, VSML_TAG_DATA);
    memset(p, 0, sizeof(double) * L->total);
    for (size_t i = 0; i < (size_t)L->rows * L->G; i++)
        p[L->w_lstm + i] = vsml_rng_trunc_normal(&r) / sqrt((double)L->rows);
    for (size_t i = 0; i < (size_t)L->N * L->M; i++) {
        p[L->w_fwd + i] = vsml_rng_trunc_normal(&r) / sqrt((double)L->N);
        p[L->w_bwd + i] = vsml_rng_trunc_normal(&r) / sqrt((double)L->N);
    }
    if (o->integrators) /* the w and b cells start as integrators: f = sigmoid(10), i = 1/2 */
        for (int k = 0; k < 2; k++) {
            int j = k ? o->b_dim : o->w_dim;
            p[L->b_lstm + (size_t)2 * L->N + j] = 5.0;
            p[L->b_lstm + j] = 5.0;
        }
}

int vsml_clone_train(const vsml_clone_opts *o, const float *init, float *out,
                     vsml_clone_progress cb, void *user)
{
    if (vsml_clone_opts_check(o) != 0)
        return -1;
    vsml_clone_layout L;
    vsml_clone_layout_make(o->N, &L);
    int N = o->N, B = o->batch, nt = o->threads < B ? o->threads : B, rc = -1;
    size_t P = L.total, S = (size_t)o->buffer;
    double *p = malloc(sizeof(double) * P), *m1 = calloc(P, sizeof(double)),
           *m2 = calloc(P, sizeof(double)), *gp = calloc(P * (size_t)nt, sizeof(double));
    double *bh = malloc(sizeof(double) * S * N), *bc = malloc(sizeof(double) * S * N);
    double *h0 = malloc(sizeof(double) * B * N), *c0 = malloc(sizeof(double) * B * N);
    double *h1 = malloc(sizeof(double) * B * N), *c1 = malloc(sizeof(double) * B * N);
    double *xs = malloc(sizeof(double) * B), *es = malloc(sizeof(double) * B),
           *ss = malloc(sizeof(double) * B);
    vsml_clone_result *res = malloc(sizeof(*res) * B);
    unsigned char *recg = calloc((size_t)B, 1);
    vsml_clone_work **ws = calloc((size_t)nt, sizeof(*ws));
    job *jobs = calloc((size_t)nt, sizeof(job));
    pthread_t *th = calloc((size_t)nt, sizeof(pthread_t));
    if (!p || !m1 || !m2 || !gp || !bh || !bc || !h0 || !c0 || !h1 || !c1 || !xs || !es || !ss ||
        !res || !ws || !jobs || !th || !recg)
        goto oom;
    for (int t = 0; t < nt; t++)
        if (!(ws[t] = vsml_clone_work_new(o)))
            goto oom;
    if (init) {
        for (size_t i = 0; i < P; i++)
            p[i] = init[i];
        if (o->init_gain > 0) /* cloned with another forward gain: rescale the head */
            for (size_t i = L.w_fwd; i < L.w_bwd; i++)
                p[i] *= o->gain / o->init_gain;
    } else
        init_params(o, &L, o->seed, p);
    vsml_rng br;
    vsml_rng_init(&br, o->seed, STREAM_BUFFER, VSML_TAG_DATA);
    for (size_t i = 0; i < S; i++)
        fresh_state(o, &br, bh + i * N, bc + i * N);
    double acc_loss = 0, acc_f = 0, acc_b = 0, acc_u = 0;
    int acc_n = 0;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int step = 0; step < o->steps; step++) {
        vsml_rng r;
        vsml_rng_init(&r, o->seed ^ ((uint64_t)step << 32), STREAM_STEP, VSML_TAG_DATA);
        for (int g = 0; g < B / o->group; g++) {
            double *hs = h0 + (size_t)g * o->group * N, *cs = c0 + (size_t)g * o->group * N;
            recg[g] = o->recs && o->n_recs && vsml_rng_uniform(&r) < o->rec_frac;
            if (recg[g]) { /* recorded in a deep rollout: states and inboxes */
                for (int i = 0; i < o->group; i++) {
                    const vsml_clone_rec *q = &o->recs[vsml_rng_below(&r, (uint32_t)o->n_recs)];
                    int bi = g * o->group + i;
                    for (int j = 0; j < N; j++) {
                        hs[(size_t)i * N + j] = q->h[j];
                        cs[(size_t)i * N + j] = q->c[j];
                    }
                    xs[bi] = q->fin[0];
                    es[bi] = q->bin_bwd[0];
                    ss[bi] = q->bin_fwd[0];
                }
                continue;
            }
            if (vsml_rng_uniform(&r) < o->fresh) {
                fresh_state(o, &r, hs, cs);
            } else {
                size_t k = vsml_rng_below(&r, (uint32_t)S);
                memcpy(hs, bh + k * N, sizeof(double) * N);
                memcpy(cs, bc + k * N, sizeof(double) * N);
            }
            for (int i = 1; i < o->group; i++) {
                memcpy(hs + (size_t)i * N, hs, sizeof(double) * N);
                memcpy(cs + (size_t)i * N, cs, sizeof(double) * N);
            }
        }
        for (int i = 0; i < B; i++) {
            if (recg[i / o->group])
                continue;
            sample_xe(o, &r, &xs[i], &es[i]);
            ss[i] = 0.0;
            if (o->stale > 0 && vsml_rng_uniform(&r) < o->stale) {
                double x_unused;
                sample_xe(o, &r, &x_unused, &ss[i]);
            }
        }
        memset(gp, 0, sizeof(double) * P * nt);
        for (int t = 0; t < nt; t++) {
            jobs[t] = (job){o, p, h0, c0, xs, es, ss, h1, c1, res, gp + P * t, ws[t],
                            B * t / nt, B * (t + 1) / nt};
            if (t > 0 && pthread_create(&th[t], NULL, run_job, &jobs[t]) != 0) {
                vsml_err("cannot start a worker thread");
                goto out;
            }
        }
        run_job(&jobs[0]);
        for (int t = 1; t < nt; t++)
            pthread_join(th[t], NULL);
        for (int t = 1; t < nt; t++) /* fixed order: deterministic */
            for (size_t i = 0; i < P; i++)
                gp[i] += gp[P * t + i];
        double loss = 0;
        for (int i = 0; i < B; i++) {
            loss += res[i].loss;
            double df = res[i].fwd[1] - res[i].fwd_target, db = res[i].bwd - res[i].bwd_target,
                   du = res[i].w - res[i].w_target;
            acc_f += df * df;
            acc_b += db * db;
            acc_u += du * du;
        }
        acc_loss += loss / B;
        acc_n++;
        if (!isfinite(loss)) {
            vsml_err("clone: the loss became non-finite at step %d", step);
            goto out;
        }
        /* Adam, cosine decay to a tenth */
        double lr = o->adam_lr * (0.1 + 0.45 * (1.0 + cos(M_PI * step / (double)o->steps)));
        double c1b = 1.0 - pow(b1, step + 1), c2b = 1.0 - pow(b2, step + 1);
        for (size_t i = 0; i < P; i++) {
            double g = gp[i] / B;
            m1[i] = b1 * m1[i] + (1 - b1) * g;
            m2[i] = b2 * m2[i] + (1 - b2) * g * g;
            p[i] -= lr * (m1[i] / c1b) / (sqrt(m2[i] / c2b) + eps);
        }
        /* one new state per group into the buffer, with the group's mean w, b */
        for (int g = 0; g < B / o->group; g++) {
            int i0 = g * o->group;
            double mw = 0, mb = 0;
            for (int i = i0; i < i0 + o->group; i++) {
                mw += c1[(size_t)i * N + o->w_dim];
                mb += c1[(size_t)i * N + o->b_dim];
            }
            int pick = i0 + (int)vsml_rng_below(&r, (uint32_t)o->group);
            size_t k = vsml_rng_below(&r, (uint32_t)S);
            memcpy(bh + k * N, h1 + (size_t)pick * N, sizeof(double) * N);
            memcpy(bc + k * N, c1 + (size_t)pick * N, sizeof(double) * N);
            if (!recg[g]) { /* a recorded group has different start states */
                bc[k * N + o->w_dim] = mw / o->group;
                bc[k * N + o->b_dim] = mb / o->group;
            }
        }
        if (cb && o->log_every > 0 && ((step + 1) % o->log_every == 0 || step + 1 == o->steps)) {
            double n = (double)acc_n * B;
            cb(user, step + 1, acc_loss / acc_n, sqrt(acc_f / n), sqrt(acc_b / n),
               sqrt(acc_u / n));
            acc_loss = acc_f = acc_b = acc_u = 0;
            acc_n = 0;
        }
    }
    for (size_t i = 0; i < P; i++)
        out[i] = (float)p[i];
    vsml_clone_prune(N, out);
    rc = 0;
    goto out;
oom:
    vsml_err("out of memory in clone training");
out:
    if (ws)
        for (int t = 0; t < nt; t++)
            vsml_clone_work_free(ws[t]);
    free(ws);
    free(jobs);
    free(th);
    free(p);
    free(m1);
    free(m2);
    free(gp);
    free(bh);
    free(bc);
    free(h0);
    free(c0);
    free(h1);
    free(c1);
    free(xs);
    free(es);
    free(ss);
    free(res);
    free(recg);
    return rc;
}

void vsml_clone_prune(int N, float *p)
{
    vsml_clone_layout L;
    vsml_clone_layout_make(N, &L);
    for (int m = 1; m < L.M; m++)
        for (int g = 0; g < L.G; g++) {
            p[L.w_lstm + (size_t)m * L.G + g] = 0.0f;
            p[L.w_lstm + (size_t)(L.M + m) * L.G + g] = 0.0f;
        }
    for (int m = 0; m < L.M; m++) {
        if (m >= 2) {
            p[L.b_fwd + m] = 0.0f;
            for (int j = 0; j < N; j++)
                p[L.w_fwd + (size_t)j * L.M + m] = 0.0f;
        }
        if (m >= 1) {
            p[L.b_bwd + m] = 0.0f;
            for (int j = 0; j < N; j++)
                p[L.w_bwd + (size_t)j * L.M + m] = 0.0f;
        }
    }
}

int vsml_clone_evaluate(const vsml_clone_opts *o, const float *params, int n, int burn,
                        uint64_t seed, vsml_clone_check *out)
{
    if (vsml_clone_opts_check(o) != 0)
        return -1;
    vsml_clone_layout L;
    vsml_clone_layout_make(o->N, &L);
    int N = o->N;
    double *p = malloc(sizeof(double) * L.total), *h = malloc(sizeof(double) * 2 * N);
    vsml_clone_work *w = vsml_clone_work_new(o);
    if (!p || !h || !w) {
        free(p);
        free(h);
        vsml_clone_work_free(w);
        vsml_err("out of memory");
        return -1;
    }
    double *c = h + N;
    for (size_t i = 0; i < L.total; i++)
        p[i] = params[i];
    double sf = 0, tf = 0, sb = 0, tb = 0, su = 0, tu = 0, sbb = 0, tbb = 0;
    for (int k = 0; k < n; k++) {
        vsml_rng r;
        vsml_rng_init(&r, seed, STREAM_EVAL + (uint32_t)k, VSML_TAG_DATA);
        fresh_state(o, &r, h, c);
        vsml_clone_result res;
        int steps = burn > 0 ? (int)vsml_rng_below(&r, (uint32_t)burn + 1) : 0;
        for (int t = 0; t < steps; t++) {
            vsml_clone_sample s = {h, c, 0, 0, 0};
            sample_xe(o, &r, &s.x, &s.e);
            s.e *= 0.3; /* a learner's errors: mostly small */
            vsml_clone_step(o, p, &s, w, &res, NULL, h, c);
        }
        vsml_clone_sample s = {h, c, 0, 0, 0};
        sample_xe(o, &r, &s.x, &s.e);
        vsml_clone_step(o, p, &s, w, &res, NULL, NULL, NULL);
        double wv = o->scale * c[o->w_dim], bv = o->no_bias ? 0.0 : o->scale * c[o->b_dim];
        sf += (res.fwd[1] - res.fwd_target) * (res.fwd[1] - res.fwd_target);
        tf += res.fwd_target * res.fwd_target;
        sb += (res.bwd - res.bwd_target) * (res.bwd - res.bwd_target);
        tb += res.bwd_target * res.bwd_target;
        su += (res.w - res.w_target) * (res.w - res.w_target);
        tu += (res.w_target - wv) * (res.w_target - wv);
        sbb += (res.b - res.b_target) * (res.b - res.b_target);
        tbb += (res.b_target - bv) * (res.b_target - bv);
    }
    out->fwd_rmse = sqrt(sf / n);
    out->bwd_rmse = sqrt(sb / n);
    out->upd_rmse = sqrt(su / n);
    out->fwd_rel = sqrt(sf / fmax(tf, 1e-30));
    out->bwd_rel = sqrt(sb / fmax(tb, 1e-30));
    out->upd_rel = sqrt(su / fmax(tu, 1e-30));
    /* with lr_bias = 0 (b must stay) relative to the w update's scale */
    out->bias_rel = sqrt(sbb / fmax(tbb > 0 ? tbb : tu, 1e-30));
    free(p);
    free(h);
    vsml_clone_work_free(w);
    return 0;
}
