/* vsml-vk clone: learning-algorithm cloning (paper B.1, C.1; the targets are
 * described in include/vsml/clone.h). Trains the shared sub-LSTM (N = 64 by
 * default) to imitate backpropagation in one dense layer and writes a
 * parameter file that rollout, eval and train --init-params read, with the
 * model options it is meant for in its metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vsml/clone.h"
#include "vsml/datasets.h"
#include "vsml/log.h"
#include "vsml/model.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

typedef struct progress {
    double t0;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_progress(void *user, int step, double loss, double fwd, double bwd, double upd)
{
    progress *p = user;
    printf("step %6d  loss %.5f  rmse: forward %.4f  backward %.4f  w update %.4f  (%.0f s)\n",
           step, loss, fwd, bwd, upd, now_s() - p->t0);
    fflush(stdout);
}

/* The model configuration the cloned parameters are meant to run with. */
static void clone_model_cfg_opts(const vsml_clone_opts *c, vsml_model_config *cfg)
{
    cfg->state_size = c->N;
    cfg->micro_ticks = c->micro_ticks;
    cfg->backward_pass = true;
    cfg->clip_state = (float)c->clip;
}

static void clone_model_cfg(const vsml_clone_opts *c, vsml_model_config *cfg)
{
    int sizes[2] = {1, 1};
    vsml_model_config_default(cfg, 1, sizes);
    cfg->state_size = c->N;
    cfg->micro_ticks = c->micro_ticks;
    cfg->backward_pass = true;
    cfg->clip_state = (float)c->clip;
}

/* Stages 2 and 3 of B.1 (include/vsml/clone.h): rounds of a deep rollout
 * with the current parameters that records sub-LSTM samples, then Adam on
 * them mixed with random data. */
typedef struct deep_opts {
    const char *layers, *dataset, *data_dir;
    int sizes[VSML_MAX_LAYERS + 2], n;
    int rounds, T, E, record;
    float rec_frac;
    bool gt_errors;
} deep_opts;

static int deep_rounds(vsml_clone_opts *c, const deep_opts *d, const float *init, float *p,
                       progress *pr)
{
    vsml_dataset ds = {0};
    vsml_dataset_req req = {.name = d->dataset, .data_dir = d->data_dir, .test_split = false};
    vsml_model_config cfg;
    vsml_clone_layout L;
    vsml_clone_layout_make(c->N, &L);
    if (vsml_dataset_open(&req, &ds) != 0)
        return -1;
    vsml_model_config_default(&cfg, d->n - 1, d->sizes);
    cfg.state_size = c->N;
    cfg.micro_ticks = c->micro_ticks;
    cfg.backward_pass = true;
    cfg.clear_bwd = true;
    cfg.clip_state = (float)c->clip;
    cfg.per_layer_params = true;
    int K = cfg.n_layers, rc = -1;
    size_t cap = (size_t)d->E * d->T * d->record * K;
    float *cur = malloc(sizeof(float) * L.total), *pl = malloc(sizeof(float) * L.total * K);
    vsml_clone_rec *recs = malloc(sizeof(vsml_clone_rec) * cap);
    float *corr = malloc(sizeof(float) * d->E);
    uint32_t *eps = malloc(sizeof(uint32_t) * 2 * d->E);
    int32_t *stream = NULL;
    if (!cur || !pl || !recs || !corr || !eps) {
        vsml_err("out of memory");
        goto out;
    }
    if (cfg.sizes[0] != ds.dim || cfg.sizes[K] < ds.n_classes) {
        vsml_err("--deep-layers %s does not fit %s (%d inputs, %d classes)", d->layers, ds.name,
                 ds.dim, ds.n_classes);
        goto out;
    }
    if (!init) {
        vsml_err("--deep-rounds needs --init-params (a cloned learner to start from)");
        goto out;
    }
    memcpy(cur, init, sizeof(float) * L.total);
    for (int round = 0; round < d->rounds; round++) {
        vsml_clone_opts o = *c;
        o.init_gain = 0; /* cur has the target gain already */
        vsml_clone_prune(c->N, cur);
        vsml_clone_per_layer(c, K, cur, pl);
        free(stream);
        stream = NULL;
        if (cli_make_streams(&ds, d->E, d->T, c->seed * 1000 + (uint64_t)round, &stream) != 0)
            goto out;
        for (int e = 0; e < d->E; e++) {
            eps[e] = (uint32_t)e;
            eps[d->E + e] = (uint32_t)(round * d->E + e);
        }
        vsml_episodes ep = {.P = 1, .E = d->E, .T = d->T, .x = ds.x, .n_examples = ds.n,
                            .n_streams = d->E, .stream = stream, .ep_stream = eps,
                            .ep_init = eps + d->E, .seed = c->seed};
        vsml_cpu_probe pb;
        memset(&pb, 0, sizeof(pb));
        pb.o = c;
        pb.gt_errors = d->gt_errors;
        pb.record_per_step = d->record;
        pb.seed = c->seed + (uint64_t)round;
        pb.rec = recs;
        pb.rec_cap = cap;
        vsml_rollout_out ro = {.correct = corr};
        if (vsml_cpu_rollout_probe(&cfg, pl, &ep, &ro, c->threads, &pb) != 0)
            goto out;
        double acc = 0;
        for (int e = 0; e < d->E; e++)
            acc += corr[e] / (d->T * (double)d->E);
        printf("round %d: rollout %s %s, online accuracy %.3f; %zu records;", round, d->layers,
               d->gt_errors ? "(ground-truth errors)" : "(own errors)", acc, pb.rec_n);
        for (int k = 0; k < K; k++)
            printf(" layer %d fwd %.3f bwd %.3f upd %.3f;", k,
                   sqrt(pb.fwd_se[k] / fmax(pb.fwd_ss[k], 1e-30)),
                   sqrt(pb.bwd_se[k] / fmax(pb.bwd_ss[k], 1e-30)),
                   sqrt(pb.upd_se[k] / fmax(pb.upd_ss[k], 1e-30)));
        printf(" (%.0f s)\n", now_s() - pr->t0);
        fflush(stdout);
        o.recs = recs;
        o.n_recs = pb.rec_n;
        o.seed = c->seed + 7919 * (uint64_t)(round + 1);
        if (vsml_clone_train(&o, cur, p, on_progress, pr) != 0)
            goto out;
        memcpy(cur, p, sizeof(float) * L.total);
    }
    rc = 0;
out:
    free(cur);
    free(pl);
    free(recs);
    free(corr);
    free(eps);
    free(stream);
    vsml_dataset_free(&ds);
    return rc;
}

/* --init-params: one block, or a file of per-layer blocks written with
 * --layer-gains (its block 0 with the forward head scaled back to gain). */
static int load_init(const char *path, const vsml_clone_opts *c, const vsml_model_config *cfg,
                     float **out)
{
    vsml_clone_opts f;
    if (vsml_clone_opts_from_file(path, &f) != 0)
        return -1;
    if (f.n_layer_gains == 0)
        return vsml_params_load(path, cfg, out);
    vsml_model_config pc = *cfg;
    int sizes[VSML_MAX_LAYERS + 1];
    for (int k = 0; k <= f.n_layer_gains; k++)
        sizes[k] = 2;
    vsml_model_config_default(&pc, f.n_layer_gains, sizes);
    pc.state_size = c->N;
    pc.per_layer_params = true;
    float *all = NULL;
    if (vsml_params_load(path, &pc, &all) != 0)
        return -1;
    vsml_clone_layout L;
    vsml_clone_layout_make(c->N, &L);
    double s = f.gain / vsml_clone_gain_of(&f, 0);
    for (size_t i = L.w_fwd; i < L.w_bwd; i++)
        all[i] = (float)(all[i] * s);
    *out = all; /* block 0 first: the caller reads L.total floats */
    return 0;
}

int cmd_clone(int argc, char **argv)
{
    vsml_clone_opts c;
    vsml_clone_opts_default(&c);
    const char *out = "cloned.safetensors", *init = NULL, *layer_gains = NULL;
    deep_opts d = {.dataset = "mnist", .rounds = 0, .T = 300, .E = 2, .record = 16,
                   .rec_frac = 0.5f};
    bool force = false;
    int check = 2000;
    float lr_target = (float)c.lr_target, adam_lr = (float)c.adam_lr, fresh = (float)c.fresh;
    float lr_bias = (float)c.lr_bias, gain = (float)c.gain, stale = (float)c.stale,
          x_wide = (float)c.x_wide;
    float state_weight = (float)c.state_weight, x_std = (float)c.x_std, w_std = (float)c.w_std;
    opt opts[] = {
        {"out", OPT_STR, &out, "parameter file to write (cloned.safetensors)", 1, 0},
        {"force", OPT_FLAG, &force, "overwrite --out if it exists", 1, 0},
        {"init-params", OPT_STR, &init, "start from this parameter file (same N)", 1, 0},
        {"steps", OPT_INT, &c.steps, "Adam steps (4000)", 0, 10000000},
        {"seed", OPT_U64, &c.seed, "seed of the initialisation and the random data (1)", 1, 0},
        {"state-size", OPT_INT, &c.N, "sub-LSTM state size N: 16 or 64 (64)", 4, 256},
        {"micro-ticks", OPT_INT, &c.micro_ticks, "sub-LSTM ticks per sweep (2)", 1, 8},
        {"batch", OPT_INT, &c.batch, "samples per Adam step (64)", 1, 1 << 16},
        {"group", OPT_INT, &c.group, "samples sharing one start state; the buffer gets their mean w, b (8)", 1, 1 << 16},
        {"buffer", OPT_INT, &c.buffer, "states in the buffer (4096)", 1, 1 << 24},
        {"fresh", OPT_FLOAT, &fresh, "fraction of fresh initial states per batch (0.25)", 0, 1},
        {"lr", OPT_FLOAT, &adam_lr, "Adam learning rate, cosine-decayed to a tenth (0.001)", 1e-9, 1},
        {"lr-target", OPT_FLOAT, &lr_target, "learning rate of the imitated SGD rule (1)", 1e-6, 100},
        {"x-wide", OPT_FLOAT, &x_wide, "fraction of inputs 6x wider, as deeper layers receive (0)", 0, 1},
        {"stale", OPT_FLOAT, &stale, "probability of a stale error in the forward sweep's backward inbox, as lower layers of a deep net see (0)", 0, 1},
        {"lr-bias", OPT_FLOAT, &lr_bias, "learning rate of the imitated rule for the bias (0.125)", 0, 100},
        {"gain", OPT_FLOAT, &gain, "forward message = gain * (tanh(x) w + b) (8)", 1e-3, 1e3},
        {"state-weight", OPT_FLOAT, &state_weight, "weight of the w/b targets in the loss (10)", 0, 1e6},
        {"x-std", OPT_FLOAT, &x_std, "std of the random inputs (1.5)", 1e-3, 100},
        {"w-std", OPT_FLOAT, &w_std, "std of w in fresh states (b: half of it) (2)", 0, 100},
        {"integrators", OPT_INT, &c.integrators, "1: fresh init with the w and b cells as integrators (forget bias +5, input bias +5); 0: plain init (1)", 0, 1},
        {"threads", OPT_INT, &c.threads, "worker threads (2)", 1, 64},
        {"log-every", OPT_INT, &c.log_every, "progress line every this many steps (100)", 0, 1 << 30},
        {"layer-gains", OPT_STR, &layer_gains, "for a deep network: forward gain of each layer, e.g. 2,8; writes one block per layer (run with --per-layer) whose forward heads are rescaled from --gain", 1, 0},
        {"deep-layers", OPT_STR, &d.layers, "stages 2-3 (B.1): layer sizes of the deep network whose rollouts give recorded samples, e.g. 784,16,10 (needs --layer-gains)", 1, 0},
        {"deep-dataset", OPT_STR, &d.dataset, "dataset of those rollouts, train split (mnist)", 1, 0},
        {"data-dir", OPT_STR, &d.data_dir, "where IDX datasets live", 1, 0},
        {"deep-rounds", OPT_INT, &d.rounds, "rounds of (rollout with the current parameters, --steps Adam steps on its records mixed with random data) (0)", 0, 1000},
        {"deep-steps", OPT_INT, &d.T, "examples per rollout episode (300)", 1, 100000},
        {"deep-episodes", OPT_INT, &d.E, "rollout episodes per round (2)", 1, 256},
        {"record", OPT_INT, &d.record, "sub-LSTMs recorded per layer and example (16)", 1, 4096},
        {"rec-frac", OPT_FLOAT, &d.rec_frac, "fraction of each batch drawn from the records (0.5)", 0, 1},
        {"gt-errors", OPT_FLAG, &d.gt_errors, "stage 2: in the rollouts lower layers get the imitated network's errors (default: stage 3, their own)", 1, 0},
        {"no-bias", OPT_INT, &c.no_bias, "1: imitate a layer without bias (forward gain tanh(x) w; the b cell is free) (0)", 0, 1},
        {"check", OPT_INT, &check, "held-out samples for the final check (2000; 0 = none)", 0, 1 << 24},
    };
    int r = args_parse(argc, argv, opts, (int)VSML_ARRAY_SIZE(opts), "vsml-vk clone [options]",
                       "Learning-algorithm cloning (paper B.1, C.1): trains the shared sub-LSTM by\n"
                       "Adam on random data to imitate backpropagation in a dense layer (forward\n"
                       "tanh(x) w + b, backward e w, update w -= lr tanh(x) e, b -= lr e), and writes\n"
                       "a parameter file for rollout / eval / train --init-params. The parameters are\n"
                       "meant to run with --backward-pass --clip 4 and the --micro-ticks they were\n"
                       "cloned with (all stored in the file's metadata).");
    if (r != 0)
        return r > 0 ? 0 : 2;
    c.lr_target = lr_target;
    c.adam_lr = adam_lr;
    c.fresh = fresh;
    c.state_weight = state_weight;
    c.x_std = x_std;
    c.w_std = w_std;
    c.lr_bias = lr_bias;
    c.gain = gain;
    c.stale = stale;
    c.x_wide = x_wide;
    c.b_dim = c.N / 2;
    if (layer_gains) {
        c.n_layer_gains = 0;
        for (const char *s = layer_gains; *s && c.n_layer_gains < VSML_CLONE_MAX_LAYERS;) {
            char *end;
            double g = strtod(s, &end);
            if (end == s || !(g > 0) || g > 1e3 || (*end && *end != ',')) {
                vsml_err("--layer-gains takes positive numbers, comma-separated (got '%s')",
                         layer_gains);
                return 2;
            }
            c.layer_gain[c.n_layer_gains++] = g;
            s = *end ? end + 1 : end;
        }
        if (c.n_layer_gains < 2) {
            vsml_err("--layer-gains needs one gain per layer, at least 2 layers (got '%s')",
                     layer_gains);
            return 2;
        }
    }
    if (d.layers && (d.n = args_sizes("--deep-layers", d.layers, d.sizes, VSML_MAX_LAYERS + 1)) < 0)
        return 2;
    if (d.layers && (d.n < 3 || d.n - 1 != c.n_layer_gains)) {
        vsml_err("--deep-layers needs at least 2 layers and --layer-gains with one gain per layer");
        return 2;
    }
    if (d.rounds > 0 && !d.layers) {
        vsml_err("--deep-rounds needs --deep-layers");
        return 2;
    }
    c.rec_frac = d.rec_frac;
    if (vsml_clone_opts_check(&c) != 0)
        return 2;
    /* before minutes of training, not after them */
    if (cli_check_out_file(out, "--out", force, init, "--init-params") != 0)
        return 2;
    if (!vsml_state_size_ok(c.N)) {
        vsml_err("--state-size %d: rollout, eval and train run N = 16 or 64", c.N);
        return 2;
    }
    vsml_model_config cfg;
    clone_model_cfg(&c, &cfg);
    size_t np = vsml_param_count(&cfg);
    float *p = malloc(np * sizeof(float)), *p0 = NULL;
    if (!p) {
        vsml_err("out of memory");
        return 1;
    }
    if (init && load_init(init, &c, &cfg, &p0) != 0) {
        free(p);
        return 1;
    }
    if (init) { /* the forward gain the file was cloned with (1 before it was stored) */
        vsml_st st;
        if (vsml_st_read(init, &st) == 0) {
            const char *g = vsml_st_get_meta(&st, "clone_gain");
            c.init_gain = g ? atof(g) : 1.0;
            vsml_st_free(&st);
        }
    }
    progress pr = {now_s()};
    printf("clone: N=%d, %d micro tick(s), %d steps of batch %d, lr_target %g, seed %llu\n", c.N,
           c.micro_ticks, c.steps, c.batch, c.lr_target, (unsigned long long)c.seed);
    int rc = d.rounds > 0 ? deep_rounds(&c, &d, p0, p, &pr) : vsml_clone_train(&c, p0, p, on_progress, &pr);
    free(p0);
    if (rc != 0) {
        free(p);
        return 1;
    }
    vsml_clone_check ck = {0};
    if (check > 0 && vsml_clone_evaluate(&c, p, check, 50, c.seed + 1000003, &ck) == 0)
        printf("held-out check (%d samples, states after up to 50 own steps): relative RMS error "
               "forward %.3f, backward %.3f, w update %.3f, b update %.3f\n",
               check, ck.fwd_rel, ck.bwd_rel, ck.upd_rel, ck.bias_rel);
    char v[15][64];
    snprintf(v[0], 64, "%d", c.micro_ticks);
    snprintf(v[1], 64, "%g", c.clip);
    snprintf(v[2], 64, "%g", c.lr_target);
    snprintf(v[3], 64, "%d", c.steps);
    snprintf(v[4], 64, "%llu", (unsigned long long)c.seed);
    snprintf(v[5], 64, "%d", c.w_dim);
    snprintf(v[6], 64, "%d", c.b_dim);
    snprintf(v[7], 64, "%g", c.scale);
    snprintf(v[8], 64, "%.4f", ck.fwd_rel);
    snprintf(v[9], 64, "%.4f", ck.upd_rel);
    snprintf(v[10], 64, "%g", c.gain);
    snprintf(v[11], 64, "%g", c.lr_bias);
    snprintf(v[13], 64, "%d", c.no_bias);
    v[12][0] = 0;
    for (int k = 0; k < c.n_layer_gains; k++)
        snprintf(v[12] + strlen(v[12]), 64 - strlen(v[12]), "%s%g", k ? "," : "",
                 c.layer_gain[k]);
    const char *meta[] = {"origin", "vsml-vk clone", "backward_pass", "true",
                          "micro_ticks", v[0], "clip_state", v[1], "clone_lr_target", v[2],
                          "clone_steps", v[3], "clone_seed", v[4], "clone_w_dim", v[5],
                          "clone_b_dim", v[6], "clone_scale", v[7], "clone_check_fwd_rel", v[8],
                          "clone_check_upd_rel", v[9], "clone_gain", v[10],
                          "clone_lr_bias", v[11], "clone_no_bias", v[13],
                          "clone_layer_gains", v[12],
                          "per_layer_params", c.n_layer_gains ? "true" : "false"};
    float *pl = NULL;
    if (c.n_layer_gains) { /* one block per layer, forward heads rescaled */
        int sizes[VSML_CLONE_MAX_LAYERS + 1];
        for (int k = 0; k <= c.n_layer_gains; k++)
            sizes[k] = 2;
        vsml_model_config_default(&cfg, c.n_layer_gains, sizes);
        clone_model_cfg_opts(&c, &cfg);
        cfg.per_layer_params = true;
        pl = malloc(vsml_param_count(&cfg) * sizeof(float));
        if (!pl) {
            free(p);
            vsml_err("out of memory");
            return 1;
        }
        vsml_clone_per_layer(&c, c.n_layer_gains, p, pl);
    }
    int n_meta = (int)(VSML_ARRAY_SIZE(meta) / 2) - (c.n_layer_gains ? 0 : 2);
    rc = vsml_params_save(out, &cfg, pl ? pl : p, n_meta, meta);
    free(p);
    free(pl);
    if (rc != 0)
        return 1;
    printf("wrote %s; run it with --backward-pass --micro-ticks %d --clip %g%s (N=%d is in the "
           "file)\n", out, c.micro_ticks, c.clip,
           c.n_layer_gains ? " --clear-bwd --per-layer and as many layers" : "", c.N);
    return 0;
}
