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
static void clone_model_cfg(const vsml_clone_opts *c, vsml_model_config *cfg)
{
    int sizes[2] = {1, 1};
    vsml_model_config_default(cfg, 1, sizes);
    cfg->state_size = c->N;
    cfg->micro_ticks = c->micro_ticks;
    cfg->backward_pass = true;
    cfg->clip_state = (float)c->clip;
}

int cmd_clone(int argc, char **argv)
{
    vsml_clone_opts c;
    vsml_clone_opts_default(&c);
    const char *out = "cloned.safetensors", *init = NULL;
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
        {"state-size", OPT_INT, &c.N, "sub-LSTM state size N (64)", 4, 256},
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
    if (vsml_clone_opts_check(&c) != 0)
        return 2;
    struct stat sb;
    if (!force && stat(out, &sb) == 0) {
        vsml_err("%s exists; pass --force to overwrite it", out);
        return 2;
    }
    vsml_model_config cfg;
    clone_model_cfg(&c, &cfg);
    if (!vsml_state_size_ok(c.N))
        vsml_warn("the engine has no kernel for N = %d: only the CPU code can run these parameters", c.N);
    size_t np = vsml_param_count(&cfg);
    float *p = malloc(np * sizeof(float)), *p0 = NULL;
    if (!p) {
        vsml_err("out of memory");
        return 1;
    }
    if (init && vsml_params_load(init, &cfg, &p0) != 0) {
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
    int rc = vsml_clone_train(&c, p0, p, on_progress, &pr);
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
    char v[12][64];
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
    const char *meta[] = {"origin", "vsml-vk clone", "backward_pass", "true",
                          "micro_ticks", v[0], "clip_state", v[1], "clone_lr_target", v[2],
                          "clone_steps", v[3], "clone_seed", v[4], "clone_w_dim", v[5],
                          "clone_b_dim", v[6], "clone_scale", v[7], "clone_check_fwd_rel", v[8],
                          "clone_check_upd_rel", v[9], "clone_gain", v[10],
                          "clone_lr_bias", v[11]};
    rc = vsml_params_save(out, &cfg, p, (int)(VSML_ARRAY_SIZE(meta) / 2), meta);
    free(p);
    if (rc != 0)
        return 1;
    printf("wrote %s; run it with --backward-pass --micro-ticks %d --clip %g (N=%d is in the "
           "file)\n", out, c.micro_ticks, c.clip, c.N);
    return 0;
}
