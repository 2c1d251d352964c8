#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/log.h"
#include "vsml/model.h"
#include "vsml/rng.h"
#include "vsml/rollout.h"
#include "vsml/safetensors.h"

void vsml_model_config_default(vsml_model_config *cfg, int n_layers, const int *sizes)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->n_layers = n_layers;
    for (int k = 0; k <= n_layers && k <= VSML_MAX_LAYERS; k++)
        cfg->sizes[k] = sizes[k];
    cfg->micro_ticks = 2;
    cfg->feed_label = false;
    cfg->backward_pass = false;
    cfg->clip_state = 0.0f;
    cfg->per_layer_params = false;
    cfg->loss_type = VSML_LOSS_MEAN;
    cfg->init_mode = VSML_INIT_RANDOM;
    cfg->state_size = VSML_N_DEFAULT;
}

bool vsml_state_size_ok(int N)
{
    return N == 16 || N == 64;
}

int vsml_state_size(const vsml_model_config *cfg)
{
    return cfg->state_size ? cfg->state_size : VSML_N_DEFAULT;
}

void vsml_param_layout_of(int N, vsml_param_layout *L)
{
    size_t n = (size_t)N, m = VSML_M, g = 4 * n;
    L->N = N;
    L->M = VSML_M;
    L->G = 4 * N;
    L->w_lstm = 0;
    L->b_lstm = (2 * m + n) * g;
    L->w_fwd = L->b_lstm + g;
    L->b_fwd = L->w_fwd + n * m;
    L->w_bwd = L->b_fwd + m;
    L->b_bwd = L->w_bwd + n * m;
    L->block = L->b_bwd + m;
}

int vsml_model_config_make(vsml_model_config *cfg, int n_layers, const int *sizes,
                           const vsml_model_opts *o)
{
    if (o->init && strcmp(o->init, "random") && strcmp(o->init, "zeros")) {
        vsml_err("init must be random or zeros, not '%s'", o->init);
        return -1;
    }
    if (o->loss && strcmp(o->loss, "mean") && strcmp(o->loss, "last")) {
        vsml_err("loss must be mean or last, not '%s'", o->loss);
        return -1;
    }
    vsml_model_config_default(cfg, n_layers, sizes);
    cfg->micro_ticks = o->micro_ticks;
    cfg->feed_label = o->feed_label;
    cfg->backward_pass = o->backward_pass;
    cfg->per_layer_params = o->per_layer_params;
    cfg->clip_state = o->clip_state;
    cfg->init_mode = o->init && !strcmp(o->init, "zeros") ? VSML_INIT_ZEROS : VSML_INIT_RANDOM;
    cfg->loss_type = o->loss && !strcmp(o->loss, "last") ? VSML_LOSS_LAST : VSML_LOSS_MEAN;
    cfg->state_size = o->state_size ? o->state_size : VSML_N_DEFAULT;
    cfg->clear_bwd = o->clear_bwd;
    cfg->state_f16 = o->state_f16;
    return vsml_model_config_check(cfg);
}

int vsml_model_config_check(const vsml_model_config *cfg)
{
    char msg[1024] = "";
    size_t len = 0;
#define PROBLEM(...) \
    len += (size_t)snprintf(msg + len, len < sizeof(msg) ? sizeof(msg) - len : 0, __VA_ARGS__)
    if (cfg->n_layers < 1 || cfg->n_layers > VSML_MAX_LAYERS) {
        PROBLEM("%s%d layers (must be 1..%d)", len ? "; " : "", cfg->n_layers, VSML_MAX_LAYERS);
    } else {
        for (int k = 0; k <= cfg->n_layers; k++)
            if (cfg->sizes[k] < 1 || cfg->sizes[k] > VSML_MAX_UNITS)
                PROBLEM("%slayer size %d is %d (must be 1..%d)", len ? "; " : "", k,
                        cfg->sizes[k], VSML_MAX_UNITS);
        if (cfg->sizes[cfg->n_layers] < 2)
            PROBLEM("%sthe output layer needs at least 2 classes", len ? "; " : "");
    }
    if (cfg->micro_ticks < 1 || cfg->micro_ticks > 64)
        PROBLEM("%smicro_ticks is %d (must be 1..64)", len ? "; " : "", cfg->micro_ticks);
    if (!(cfg->clip_state >= 0.0f) || !isfinite(cfg->clip_state))
        PROBLEM("%sclip_state must be a finite value >= 0 (0 = off)", len ? "; " : "");
    if (cfg->state_size != 0 && !vsml_state_size_ok(cfg->state_size))
        PROBLEM("%sstate size N is %d (must be 16 or 64)", len ? "; " : "", cfg->state_size);
#undef PROBLEM
    if (len) {
        vsml_err("invalid model configuration: %s", msg);
        return -1;
    }
    return 0;
}

int vsml_param_blocks(const vsml_model_config *cfg)
{
    return cfg->per_layer_params ? cfg->n_layers : 1;
}

size_t vsml_param_count(const vsml_model_config *cfg)
{
    vsml_param_layout L;
    vsml_param_layout_of(vsml_state_size(cfg), &L);
    return (size_t)vsml_param_blocks(cfg) * L.block;
}

size_t vsml_model_sub_lstms(const vsml_model_config *cfg)
{
    size_t n = 0;
    for (int k = 0; k < cfg->n_layers; k++)
        n += (size_t)cfg->sizes[k] * (size_t)cfg->sizes[k + 1];
    return n;
}

static void trunc_normal_fill(vsml_rng *r, float *dst, size_t n, double std)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(vsml_rng_trunc_normal(r) * std);
}

void vsml_params_init(const vsml_model_config *cfg, uint64_t seed, float *out)
{
    int nb = vsml_param_blocks(cfg);
    vsml_param_layout L;
    vsml_param_layout_of(vsml_state_size(cfg), &L);
    size_t n = (size_t)L.N, m = (size_t)L.M;
    for (int blk = 0; blk < nb; blk++) {
        float *p = out + (size_t)blk * L.block;
        vsml_rng r;
        vsml_rng_init(&r, seed, (uint32_t)blk, VSML_TAG_PARAM);
        memset(p, 0, L.block * sizeof(float));
        trunc_normal_fill(&r, p + L.w_lstm, (2 * m + n) * (size_t)L.G, 1.0 / sqrt(2.0 * m + n));
        trunc_normal_fill(&r, p + L.w_fwd, n * m, 1.0 / sqrt((double)n));
        trunc_normal_fill(&r, p + L.w_bwd, n * m, 1.0 / sqrt((double)n));
    }
}

/* The named parts of one block of state size N, in file order. */
struct part {
    const char *name;
    size_t off;
    int rows, cols; /* cols 0 = vector */
};
#define N_PARTS 6

static void parts_of(int N, struct part *parts)
{
    vsml_param_layout L;
    vsml_param_layout_of(N, &L);
    parts[0] = (struct part){"W_lstm", L.w_lstm, 2 * L.M + L.N, L.G};
    parts[1] = (struct part){"b_lstm", L.b_lstm, L.G, 0};
    parts[2] = (struct part){"W_fwd", L.w_fwd, L.N, L.M};
    parts[3] = (struct part){"b_fwd", L.b_fwd, L.M, 0};
    parts[4] = (struct part){"W_bwd", L.w_bwd, L.N, L.M};
    parts[5] = (struct part){"b_bwd", L.b_bwd, L.M, 0};
}

static void part_name(char *dst, size_t n, int nb, int blk, const struct part *p)
{
    if (nb == 1)
        snprintf(dst, n, "%s", p->name);
    else
        snprintf(dst, n, "layer%d.%s", blk, p->name);
}

int vsml_params_tensors(const vsml_model_config *cfg, const float *params, vsml_tensor *ts)
{
    int nb = vsml_param_blocks(cfg), n = 0;
    struct part parts[N_PARTS];
    parts_of(vsml_state_size(cfg), parts);
    size_t block = vsml_param_count(cfg) / (size_t)nb;
    for (int blk = 0; blk < nb; blk++) {
        for (int i = 0; i < N_PARTS; i++) {
            vsml_tensor *t = &ts[n++];
            memset(t, 0, sizeof(*t));
            part_name(t->name, sizeof(t->name), nb, blk, &parts[i]);
            t->dtype = VSML_F32;
            t->ndim = parts[i].cols ? 2 : 1;
            t->shape[0] = parts[i].rows;
            t->shape[1] = parts[i].cols;
            t->data = (void *)(params + (size_t)blk * block + parts[i].off);
            t->nbytes = (size_t)parts[i].rows * (size_t)(parts[i].cols ? parts[i].cols : 1) *
                        sizeof(float);
        }
    }
    return n;
}

int vsml_params_save(const char *path, const vsml_model_config *cfg, const float *params,
                     int n_extra_meta, const char *const *extra_meta_kv)
{
    int nb = vsml_param_blocks(cfg);
    vsml_tensor ts[VSML_PARAM_TENSORS_MAX];
    int n = vsml_params_tensors(cfg, params, ts);
    char sn[16], sm[16], sb[16];
    snprintf(sn, sizeof(sn), "%d", vsml_state_size(cfg));
    snprintf(sm, sizeof(sm), "%d", VSML_M);
    snprintf(sb, sizeof(sb), "%d", nb);
    vsml_st_meta meta[16 + 5];
    int nm = 0;
    meta[nm++] = (vsml_st_meta){"format", "vsml-vk-params-1"};
    meta[nm++] = (vsml_st_meta){"N", sn};
    meta[nm++] = (vsml_st_meta){"state_size", sn};
    meta[nm++] = (vsml_st_meta){"M", sm};
    meta[nm++] = (vsml_st_meta){"blocks", sb};
    for (int i = 0; i < n_extra_meta && nm < (int)(sizeof(meta) / sizeof(meta[0])); i++)
        meta[nm++] = (vsml_st_meta){(char *)extra_meta_kv[2 * i], (char *)extra_meta_kv[2 * i + 1]};
    return vsml_st_write(path, ts, n, meta, nm);
}

static int meta_int(const vsml_st *st, const char *key, int dflt)
{
    const char *v = vsml_st_get_meta(st, key);
    if (!v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return (*v && !*end && x >= 0 && x < 1 << 30) ? (int)x : -1;
}

int vsml_params_load(const char *path, const vsml_model_config *cfg, float **out)
{
    *out = NULL;
    vsml_st st;
    if (vsml_st_read(path, &st) != 0)
        return -1;
    int rc = vsml_params_from_st(&st, path, cfg, out);
    vsml_st_free(&st);
    return rc;
}

int vsml_params_from_st(const vsml_st *stp, const char *path, const vsml_model_config *cfg,
                        float **out)
{
    *out = NULL;
    const vsml_st st = *stp;
    int nb = vsml_param_blocks(cfg), N = vsml_state_size(cfg);
    int fn = meta_int(&st, "N", VSML_N_DEFAULT), fm = meta_int(&st, "M", VSML_M);
    int fb = meta_int(&st, "blocks", -2);
    float *p = NULL;
    const char *keys[] = {"N", "M", "blocks"};
    int vals[] = {fn, fm, fb};
    for (int i = 0; i < 3; i++)
        if (vals[i] == -1) {
            vsml_err("%s: metadata %s = '%s' is not a size", path, keys[i],
                     vsml_st_get_meta(&st, keys[i]));
            goto fail;
        }
    struct part parts[N_PARTS];
    parts_of(N, parts);
    size_t block = vsml_param_count(cfg) / (size_t)nb;
    if (fm != VSML_M) {
        vsml_err("%s: parameters for message size M=%d; this build uses M=%d", path, fm,
                 VSML_M);
        goto fail;
    }
    if (fn != N) {
        vsml_err("%s: parameters for state size N=%d but the model uses N=%d (set the state "
                 "size to %d, or leave it unset to take it from the file)", path, fn, N, fn);
        goto fail;
    }
    if (fb == -2)
        fb = vsml_st_find(&st, "W_lstm") ? 1 : nb;
    if (fb != nb) {
        vsml_err("%s: holds %d parameter block(s) but the model needs %d (%s)", path, fb, nb,
                 cfg->per_layer_params ? "one per layer" : "one shared block");
        goto fail;
    }
    p = calloc(vsml_param_count(cfg), sizeof(float));
    if (!p) {
        vsml_err("out of memory loading %s", path);
        goto fail;
    }
    for (int blk = 0; blk < nb; blk++) {
        for (int i = 0; i < N_PARTS; i++) {
            char name[64];
            part_name(name, sizeof(name), nb, blk, &parts[i]);
            const vsml_tensor *t = vsml_st_find(&st, name);
            if (!t) {
                vsml_err("%s: tensor '%s' is missing", path, name);
                goto fail;
            }
            int64_t rows = parts[i].rows, cols = parts[i].cols;
            bool ok = t->dtype == VSML_F32 &&
                      (cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                            : (t->ndim == 1 && t->shape[0] == rows));
            if (!ok) {
                char shape[96] = "";
                for (int d = 0, n = 0; d < t->ndim && n < (int)sizeof(shape) - 24; d++)
                    n += snprintf(shape + n, sizeof(shape) - (size_t)n, "%s%lld", d ? "," : "",
                                  (long long)t->shape[d]);
                vsml_err("%s: tensor '%s' must be F32 of shape [%d%s%.0d], not %s of shape [%s]",
                         path, name, (int)rows, cols ? "," : "", (int)cols,
                         vsml_dtype_name(t->dtype), shape);
                goto fail;
            }
            memcpy(p + (size_t)blk * block + parts[i].off, t->data, t->nbytes);
        }
    }
    for (size_t i = 0; i < vsml_param_count(cfg); i++) {
        if (!isfinite(p[i])) {
            vsml_err("%s: parameter %zu is not finite", path, i);
            goto fail;
        }
    }
    *out = p;
    return 0;
fail:
    free(p);
    return -1;
}

int vsml_params_file_state_size(const char *path)
{
    vsml_st st;
    if (vsml_st_read(path, &st) != 0)
        return -1;
    int fn = meta_int(&st, "N", VSML_N_DEFAULT);
    if (!vsml_state_size_ok(fn)) {
        const char *v = vsml_st_get_meta(&st, "N");
        vsml_err("%s: parameters for state size N=%s, which this build does not support "
                 "(16 or 64)", path, v ? v : "?");
        fn = -1;
    }
    vsml_st_free(&st);
    return fn;
}

void vsml_rollout_out_put(const vsml_rollout_out *out, size_t r, double loss_sum, double loss,
                          double correct, double nonfinite)
{
    if (out->loss_sum)
        out->loss_sum[r] = (float)loss_sum;
    if (out->loss_last)
        out->loss_last[r] = (float)loss;
    if (out->correct)
        out->correct[r] = (float)correct;
    if (out->nonfinite)
        out->nonfinite[r] = (float)nonfinite;
}

void vsml_rollout_step(vsml_rollout_acc *acc, const vsml_rollout_out *out, size_t r, int t,
                       int T, int C, const double *y, int label, double *err)
{
    double mx = y[0];
    int arg = 0;
    for (int b = 1; b < C; b++)
        if (y[b] > mx) {
            mx = y[b];
            arg = b;
        }
    double sum = 0.0;
    for (int b = 0; b < C; b++) {
        err[b] = exp(y[b] - mx);
        sum += err[b];
    }
    double loss = log(sum) + mx - y[label];
    for (int b = 0; b < C; b++) {
        err[b] = err[b] / sum - (b == label ? 1.0 : 0.0);
        if (out->logits)
            out->logits[(r * T + t) * C + b] = (float)y[b];
    }
    if (out->loss)
        out->loss[r * T + t] = (float)loss;
    acc->loss = loss;
    acc->loss_sum += loss;
    acc->correct += arg == label;
    if (!isfinite(loss) && acc->nonfinite == 0.0)
        acc->nonfinite = t + 1;
}

int vsml_episodes_check(const vsml_model_config *cfg, const vsml_episodes *ep)
{
    if (ep->P < 1 || ep->E < 1 || ep->T < 1 || ep->n_streams < 1 || ep->n_examples < 1) {
        vsml_err("a rollout needs P, E, T, streams and examples >= 1 (got P=%d E=%d T=%d, "
                 "%d streams, %d examples)", ep->P, ep->E, ep->T, ep->n_streams, ep->n_examples);
        return -1;
    }
    long long R = (long long)ep->P * ep->E;
    int C = cfg->sizes[cfg->n_layers];
    for (long long r = 0; r < R; r++) {
        if (ep->ep_stream[r] >= (uint32_t)ep->n_streams) {
            vsml_err("episode %lld reads stream %u of %d", r, ep->ep_stream[r], ep->n_streams);
            return -1;
        }
    }
    long long n = (long long)ep->n_streams * ep->T;
    for (long long i = 0; i < n; i++) {
        int32_t ex = ep->stream[2 * i], lab = ep->stream[2 * i + 1];
        if (ex < 0 || ex >= ep->n_examples || lab < 0 || lab >= C) {
            vsml_err("stream %lld step %lld: example %d (of %d) label %d (of %d classes) "
                     "out of range", i / ep->T, i % ep->T, ex, ep->n_examples, lab, C);
            return -1;
        }
    }
    return 0;
}

float vsml_fitness(const vsml_model_config *cfg, float loss_sum, float loss_last, int T)
{
    return cfg->loss_type == VSML_LOSS_LAST ? loss_last : loss_sum / (float)T;
}
