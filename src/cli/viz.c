/* vsml-vk viz: a live window of VSML learning online (the paper's Figures 9
 * and 17), or the same frame rendered headless to a PNG (--offscreen). The
 * engine advances one episode a few steps per frame on the device that
 * renders; the probabilities are read by the render shader straight from the
 * engine's output buffer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "viz/viz.h"
#include "vsml/datasets.h"
#include "vsml/engine.h"
#include "vsml/eval.h"
#include "vsml/log.h"
#include "vsml/util.h"
#include "vsml_config.h"
#if VSML_HAVE_GLFW
#include "viz/window.h"
#endif

#define WINDOW_STEPS 10000   /* default episode length in the window */
#define OFFSCREEN_STEPS 100  /* default steps before an offscreen frame */
#define FRAME_BUDGET_S 0.1   /* engine time per frame at most (when it can) */
#define IDLE_FRAME_S 1.0     /* a frame at least this often when nothing changes */


typedef struct viz_opts {
    const char *params, *device, *dataset, *data_dir, *images, *labels, *offscreen, *size,
        *baseline;
    uint64_t seed, data_seed;
    int steps, synth_dim, speed;
    bool validation, test_split, force;
    cli_model_opts model;
} viz_opts;

/* Everything that depends on the dataset. */
typedef struct scene {
    vsml_dataset ds;
    char ds_name[64];
    vsml_model_config cfg;
    int C, img_w, img_h, img_c;
    float lo, hi;           /* value range of the dataset, for the image */
    float *params;
    int32_t *stream;        /* [T][2] */
    vsml_pop *pop;
    viz_render *r;
} scene;

typedef struct app {
    viz_opts *o;
    vsml_engine *eng;
    vk_ctx *vk;
    char param_path[4096];
    int T, W, H;
    bool host_pixels;
    enum vsml_optimizer base_opt;
    bool has_base;
    scene sc;
    /* the episode */
    int t;
    uint64_t seed;          /* initial-state seed of the current learner */
    float *cum[2];          /* [T] cumulative correct count: VSML, baseline */
    float *ring;            /* [VIZ_STEPS][C] baseline outputs */
    int32_t labels[VIZ_STEPS];
    float *img;
    vsml_baseline *base;
    double step_s;          /* engine time per step (running estimate) */
    long total_steps;
    double engine_s;
} app;

/* ---- the scene ---- */

static void scene_free(scene *s)
{
    viz_render_destroy(&s->r);
    vsml_pop_destroy(&s->pop);
    vsml_dataset_free(&s->ds);
    free(s->params);
    free(s->stream);
    memset(s, 0, sizeof(*s));
}

/* Keeps only the examples the episode shows (in the order they first
 * appear) so that the table fits a buffer binding whatever the dataset's
 * size (Fashion-MNIST's 60,000 images do not on lavapipe). */
static int compact(scene *s, int T)
{
    vsml_dataset *d = &s->ds;
    int32_t *slot = malloc((size_t)d->n * sizeof(int32_t));
    float *x = malloc((size_t)(T < d->n ? T : d->n) * d->dim * sizeof(float));
    int32_t *y = malloc((size_t)(T < d->n ? T : d->n) * sizeof(int32_t));
    if (!slot || !x || !y) {
        free(slot);
        free(x);
        free(y);
        vsml_err("out of memory");
        return -1;
    }
    int n = 0;
    for (int i = 0; i < d->n; i++)
        slot[i] = -1;
    for (int t = 0; t < T; t++) {
        int32_t *ex = &s->stream[2 * t];
        if (slot[*ex] < 0) {
            memcpy(x + (size_t)n * d->dim, d->x + (size_t)*ex * d->dim, (size_t)d->dim * 4);
            y[n] = d->y[*ex];
            slot[*ex] = n++;
        }
        *ex = slot[*ex];
    }
    free(slot);
    free(d->x);
    free(d->y);
    d->x = x;
    d->y = y;
    d->n = n;
    return 0;
}

static int scene_open(app *a, const char *name, scene *s)
{
    viz_opts *o = a->o;
    memset(s, 0, sizeof(*s));
    vsml_dataset_req req = {.name = name, .data_dir = o->data_dir, .images = o->images,
                            .labels = o->labels, .test_split = o->test_split,
                            .synth_n = a->T, .synth_dim = o->synth_dim, .seed = o->data_seed};
    if (vsml_dataset_open(&req, &s->ds) != 0 || cli_model_config(&o->model, &s->ds, &s->cfg) != 0 ||
        vsml_params_load(a->param_path, &s->cfg, &s->params) != 0 ||
        cli_make_streams(&s->ds, 1, a->T, o->data_seed, &s->stream) != 0)
        goto fail;
    snprintf(s->ds_name, sizeof(s->ds_name), "%s", name);
    vsml_dataset *d = &s->ds;
    s->C = s->cfg.sizes[s->cfg.n_layers];
    bool shaped = d->height > 0 && d->width > 0 && (d->channels == 1 || d->channels == 3) &&
                  d->height * d->width * d->channels == d->dim;
    s->img_w = shaped ? d->width : d->dim;
    s->img_h = shaped ? d->height : 1;
    s->img_c = shaped ? d->channels : 1;
    s->lo = INFINITY;
    s->hi = -INFINITY;
    for (size_t i = 0; i < (size_t)d->n * d->dim; i++) {
        s->lo = fminf(s->lo, d->x[i]);
        s->hi = fmaxf(s->hi, d->x[i]);
    }
    if (compact(s, a->T) != 0)
        goto fail;
    vsml_pop_shape shape = {.P = 1, .E = 1, .T = a->T, .n_examples = d->n, .n_streams = 1,
                            .outputs = VSML_POP_LOGITS};
    uint32_t zero = 0;
    uint64_t off = 0;
    if (vsml_pop_create(a->eng, &s->cfg, &shape, &s->pop) != 0 ||
        vsml_pop_set_params(s->pop, s->params) != 0 || vsml_pop_set_data(s->pop, d->x) != 0 ||
        vsml_pop_set_episodes(s->pop, s->stream, &zero, &zero) != 0 ||
        viz_render_create(a->vk, s->C, s->img_w, s->img_h, s->img_c, a->has_base ? 2 : 1,
                          a->host_pixels, &s->r) != 0 ||
        viz_render_resize(s->r, a->W, a->H) != 0 ||
        viz_render_bind_outputs(s->r, vsml_pop_logits_buf(s->pop, 0, &off), off, 0) != 0)
        goto fail;
    return 0;
fail:
    scene_free(s);
    return -1;
}

/* ---- the episode ---- */

/* A fresh learner (initial states from a->seed, fresh baseline weights) at step 0. */
static int episode_start(app *a)
{
    scene *s = &a->sc;
    a->t = 0;
    memset(a->labels, 0, sizeof(a->labels));
    vsml_baseline_destroy(&a->base);
    free(a->ring);
    free(a->img);
    a->ring = calloc((size_t)VIZ_STEPS * s->C, sizeof(float));
    a->img = calloc((size_t)s->img_w * s->img_h * s->img_c, sizeof(float));
    for (int k = 0; k < 2; k++) {
        free(a->cum[k]);
        a->cum[k] = calloc((size_t)a->T, sizeof(float));
    }
    if (!a->ring || !a->img || !a->cum[0] || !a->cum[1]) {
        vsml_err("out of memory");
        return -1;
    }
    if (a->has_base) {
        vsml_baseline_config bc;
        vsml_baseline_config_default(&bc, a->base_opt, s->ds.dim, 0, s->C);
        if (vsml_baseline_create(&bc, a->seed, 0, &a->base) != 0)
            return -1;
    }
    return 0;
}

static int argmax(const float *v, int n)
{
    int arg = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[arg])
            arg = i;
    return arg;
}

/* Runs steps [t, t + n) of VSML on the device and of the baseline here. */
static int advance(app *a, int n)
{
    scene *s = &a->sc;
    if (n > a->T - a->t)
        n = a->T - a->t;
    if (n <= 0)
        return 0;
    vsml_run_stats st;
    float correct = 0;
    vsml_rollout_out out = {.correct = &correct};
    if (vsml_pop_run(s->pop, a->seed, a->t, n, a->t == 0, &st) != 0 ||
        vsml_pop_read(s->pop, &out) != 0)
        return -1;
    a->engine_s += st.wall_s;
    a->step_s = a->total_steps ? 0.7 * a->step_s + 0.3 * st.wall_s / n : st.wall_s / n;
    a->total_steps += n;
    /* the count is known at the end of the run; in between it is interpolated */
    float c0 = a->t > 0 ? a->cum[0][a->t - 1] : 0.0f;
    int dim = s->ds.dim;
    for (int i = 0; i < n; i++) {
        int t = a->t + i;
        a->cum[0][t] = c0 + (correct - c0) * (float)(i + 1) / (float)n;
        int ex = s->stream[2 * t], label = s->stream[2 * t + 1];
        a->labels[t % VIZ_STEPS] = label;
        if (a->base) {
            float *y = a->ring + (size_t)(t % VIZ_STEPS) * s->C;
            vsml_baseline_step(a->base, s->ds.x + (size_t)ex * dim, label, y);
            a->cum[1][t] = (t ? a->cum[1][t - 1] : 0.0f) + (argmax(y, s->C) == label);
        }
    }
    a->t += n;
    const float *x = s->ds.x + (size_t)s->stream[2 * (a->t - 1)] * dim;
    float span = s->hi > s->lo ? s->hi - s->lo : 1.0f;
    for (int i = 0; i < dim; i++)
        a->img[i] = (x[i] - s->lo) / span;
    return 0;
}

static double window_acc(const float *cum, int t)
{
    int w = t < VIZ_STEPS ? t : VIZ_STEPS;
    return w ? (cum[t - 1] - (t > w ? cum[t - w - 1] : 0.0f)) / w : 0.0;
}

static const char *opt_name(enum vsml_optimizer o)
{
    return o == VSML_OPT_ADAM ? "Adam" : "SGD";
}

/* Fills the frame's data and text. status: the running state in words. */
static void describe(const app *a, const char *status, double steps_s, double fps, int speed,
                     viz_state *st, viz_text *tx)
{
    const scene *s = &a->sc;
    memset(st, 0, sizeof(*st));
    memset(tx, 0, sizeof(*tx));
    st->t_now = a->t;
    st->labels = a->labels;
    st->ring = a->has_base ? a->ring : NULL;
    st->image = a->img;
    st->cum[0] = a->cum[0];
    st->cum[1] = a->cum[1];
    st->n_curves = a->has_base ? 2 : 1;
    st->chance = 1.0f / (float)s->ds.n_classes;
    char layers[64] = "";
    for (int k = 0, n = 0; k <= s->cfg.n_layers; k++)
        n += snprintf(layers + n, sizeof(layers) - (size_t)n, "%s%d", k ? "x" : "",
                      s->cfg.sizes[k]);
    snprintf(tx->title, sizeof(tx->title),
             "VSML on %.40s (%.40s), parameters %.100s, learner seed %llu",
             s->ds_name, layers, a->param_path, (unsigned long long)a->seed);
    char rate[64] = ""; /* window only */
    if (speed > 0)
        snprintf(rate, sizeof(rate), "   %.1f frames/s   speed %d steps/s", fps, speed);
    snprintf(tx->status, sizeof(tx->status), "step %d of %d   %.1f steps/s%s   %s", a->t, a->T,
             steps_s, rate, status);
    snprintf(tx->strip[0], sizeof(tx->strip[0]),
             "VSML: output probabilities (square: true class, ring: prediction)");
    if (a->has_base)
        snprintf(tx->strip[1], sizeof(tx->strip[1]), "%s (online, linear) on the same examples",
                 opt_name(a->base_opt));
    if (a->t > 0)
        snprintf(tx->image, sizeof(tx->image), "input of step %d (label %d)", a->t,
                 a->labels[(a->t - 1) % VIZ_STEPS]);
    else
        snprintf(tx->image, sizeof(tx->image), "input (none yet)");
    for (int k = 0; k < st->n_curves; k++)
        snprintf(tx->curve[k], sizeof(tx->curve[k]), "%s %.3f (last %d: %.2f)",
                 k ? opt_name(a->base_opt) : "VSML",
                 a->t ? a->cum[k][a->t - 1] / a->t : 0.0, a->t < VIZ_STEPS ? a->t : VIZ_STEPS,
                 window_acc(a->cum[k], a->t));
    snprintf(tx->help, sizeof(tx->help),
             "space pause/resume    n or \xe2\x86\x92 single step    + / - speed    r reset "
             "(fresh learner)    d next dataset    q or Esc quit");
}

static int render_update(app *a, const char *status, double steps_s, double fps, int speed)
{
    viz_state st;
    viz_text tx;
    describe(a, status, steps_s, fps, speed, &st, &tx);
    return viz_render_update(a->sc.r, &st, &tx);
}

static double accuracy(const app *a)
{
    return a->t ? a->cum[0][a->t - 1] / a->t : 0.0;
}

/* ---- offscreen ---- */

static int run_offscreen(app *a)
{
    /* in slices, so that the accuracy curve has a point every few steps */
    int slice = a->T / 100 > 1 ? a->T / 100 : 1;
    while (a->t < a->T)
        if (advance(a, slice) != 0)
            return -1;
    double steps_s = a->engine_s > 0 ? a->total_steps / a->engine_s : 0.0;
    if (render_update(a, "offscreen", steps_s, 0.0, 0) != 0 ||
        viz_render_png(a->sc.r, a->o->offscreen) != 0)
        return -1;
    printf("viz: wrote %s (%dx%d) after %d steps of %s; online accuracy %.4f\n",
           a->o->offscreen, a->W, a->H, a->t, a->sc.ds_name, accuracy(a));
    return 0;
}

/* ---- the window ---- */

#if VSML_HAVE_GLFW
static const int speeds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000};
/* what d cycles through */
static const char *const cycle[] = {"mnist", "fashion_mnist", "kmnist", "emnist", "cifar10",
                                    "sumsign", "random"};

static void capture_log(void *user, enum vsml_log_level level, const char *msg)
{
    if (level == VSML_LOG_ERROR)
        snprintf(user, 512, "%s", msg);
}

/* The next dataset of the cycle that opens and fits the network. */
static int next_dataset(app *a)
{
    int n = (int)VSML_ARRAY_SIZE(cycle), at = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(cycle[i], a->sc.ds_name))
            at = i;
    for (int k = 1; k <= n; k++) {
        const char *name = cycle[(at + k + n) % n];
        if (!strcmp(name, a->sc.ds_name))
            continue;
        char why[512] = "";
        scene s;
        vsml_log_set_callback(capture_log, why);
        int rc = scene_open(a, name, &s);
        vsml_log_set_callback(NULL, NULL);
        if (rc != 0) {
            printf("viz: dataset %s skipped: %s\n", name, why);
            continue;
        }
        scene_free(&a->sc);
        a->sc = s;
        printf("viz: dataset %s\n", name);
        return episode_start(a);
    }
    printf("viz: no other dataset is available\n");
    return 0;
}

static int speed_index(int speed)
{
    int best = 0;
    for (int i = 0; i < (int)VSML_ARRAY_SIZE(speeds); i++)
        if (abs(speeds[i] - speed) < abs(speeds[best] - speed))
            best = i;
    return best;
}

static int run_window(app *a, viz_window *w)
{
    bool paused = false, quit = false;
    int si = speed_index(a->o->speed);
    long frames = 0, frames_mark = 0, steps_mark = 0;
    double t_start = vsml_now(), mark = t_start, last = t_start, debt = 0.0, shown = 0.0;
    double fps = 0.0, steps_s = 0.0;
    while (!quit) {
        bool finished = a->t >= a->T;
        double now = vsml_now();
        double wait = paused || finished ? 0.25 : 0.0;
        if (!paused && !finished && debt + speeds[si] * (now - last) < 1.0)
            wait = fmin(0.05, (1.0 - debt) / speeds[si]);
        int single = 0, keys = 0;
        for (enum viz_key k = viz_window_key(w, wait); k != VIZ_KEY_NONE;
             k = viz_window_key(w, 0)) {
            keys++;
            switch (k) {
            case VIZ_KEY_PAUSE:
                paused = !paused;
                printf("viz: %s at step %d\n", paused ? "paused" : "resumed", a->t);
                break;
            case VIZ_KEY_STEP:
                paused = true;
                single++;
                break;
            case VIZ_KEY_FASTER:
            case VIZ_KEY_SLOWER:
                si += k == VIZ_KEY_FASTER ? 1 : -1;
                si = si < 0 ? 0 : si;
                si = si < (int)VSML_ARRAY_SIZE(speeds) ? si : (int)VSML_ARRAY_SIZE(speeds) - 1;
                printf("viz: speed %d steps/s\n", speeds[si]);
                break;
            case VIZ_KEY_RESET:
                a->seed++;
                if (episode_start(a) != 0)
                    return -1;
                printf("viz: reset: a fresh learner (seed %llu)\n", (unsigned long long)a->seed);
                break;
            case VIZ_KEY_DATASET:
                if (next_dataset(a) != 0)
                    return -1;
                break;
            case VIZ_KEY_QUIT:
                quit = true;
                break;
            default:
                break;
            }
        }
        if (quit)
            break;
        now = vsml_now();
        int n = 0;
        if (single) {
            n = single;
        } else if (!paused && a->t < a->T) {
            debt += speeds[si] * (now - last);
            n = (int)debt;
            int cap = a->step_s > 0 ? (int)(FRAME_BUDGET_S / a->step_s) : 1;
            cap = cap < 1 ? 1 : cap;
            if (n > cap) {
                n = cap;
                debt = n; /* the device cannot keep up: no backlog */
            }
            debt -= n;
        }
        last = now;
        if (n > 0 && advance(a, n) != 0)
            return -1;
        if (single)
            printf("viz: step %d\n", a->t);
        if (now - mark >= 0.5) {
            fps = (frames - frames_mark) / (now - mark);
            steps_s = (a->total_steps - steps_mark) / (now - mark);
            frames_mark = frames;
            steps_mark = a->total_steps;
            mark = now;
        }
        /* nothing new to show: no frame (the window keeps the last one) */
        if (n == 0 && keys == 0 && frames > 0 && now - shown < IDLE_FRAME_S &&
            !viz_window_stale(w))
            continue;
        shown = now;
        const char *status = a->t >= a->T ? "finished (r: again)" : paused ? "paused" : "running";
        bool resized = false;
        double r0 = vsml_now();
        if (render_update(a, status, steps_s, fps, speeds[si]) != 0)
            return -1;
        double r1 = vsml_now();
        if (viz_window_present(w, a->sc.r, &resized) != 0)
            return -1;
        vsml_dbg("frame %ld: %d steps %.1f ms, text and data %.1f ms, draw and present %.1f ms",
                 frames, n, (r0 - now) * 1e3, (r1 - r0) * 1e3, (vsml_now() - r1) * 1e3);
        if (resized) {
            const viz_layout *l = viz_render_layout(a->sc.r);
            a->W = l->width;
            a->H = l->height;
            printf("viz: resized to %dx%d\n", a->W, a->H);
        }
        if (frames++ == 0)
            printf("viz: first frame\n");
        fflush(stdout);
    }
    double dt = vsml_now() - t_start;
    printf("viz: quit after %ld frames in %.1f s (%.2f frames/s), %ld steps (%.2f steps/s; "
           "engine %.3f s per step); online accuracy %.4f at step %d\n",
           frames, dt, frames / dt, a->total_steps, a->total_steps / dt,
           a->total_steps ? a->engine_s / a->total_steps : 0.0, accuracy(a), a->t);
    return 0;
}
#endif

/* ---- the command ---- */

static int parse_size(const char *s, int *w, int *h)
{
    char extra;
    if (sscanf(s, "%dx%d%c", w, h, &extra) != 2 || *w < VIZ_MIN_WIDTH ||
        *h < VIZ_MIN_HEIGHT || *w > 16384 || *h > 16384) {
        vsml_err("--size must be WIDTHxHEIGHT between %dx%d and 16384x16384 (got '%s')",
                 VIZ_MIN_WIDTH, VIZ_MIN_HEIGHT, s);
        return -1;
    }
    return 0;
}

static int run(viz_opts *o)
{
    app a = {.o = o, .seed = o->seed};
    int rc = 1;
    if (!o->offscreen && !VSML_HAVE_GLFW) {
        vsml_err("this build has no window support (built without GLFW): use --offscreen "
                 "FILE.png, or install libglfw3-dev and rebuild (meson setup -Dglfw=enabled)");
        return 1;
    }
    if (parse_size(o->size, &a.W, &a.H) != 0)
        return 2;
    if ((o->offscreen && cli_check_out_file(o->offscreen, "--offscreen", o->force, o->params,
                                             "--params") != 0) ||
        cli_check_dataset_opts(o->dataset, o->synth_dim, o->images, o->labels) != 0)
        return 1;
    a.T = o->steps > 0 ? o->steps : o->offscreen ? OFFSCREEN_STEPS : WINDOW_STEPS;
    if (!strcmp(o->baseline, "sgd") || !strcmp(o->baseline, "adam")) {
        a.has_base = true;
        a.base_opt = !strcmp(o->baseline, "adam") ? VSML_OPT_ADAM : VSML_OPT_SGD;
    } else if (strcmp(o->baseline, "none")) {
        vsml_err("--baseline must be sgd, adam or none (got '%s')", o->baseline);
        return 2;
    }
    if (o->params)
        snprintf(a.param_path, sizeof(a.param_path), "%s", o->params);
    else if (cli_default_params(a.param_path, sizeof(a.param_path)) != 0) {
        vsml_err("no parameters: pass --params FILE (%s cannot be read)", a.param_path);
        return 1;
    }
    o->model.params_file = a.param_path; /* N from the file unless --state-size */
    vsml_engine_params ep = {.device = o->device, .validation = o->validation};
    a.host_pixels = o->offscreen != NULL;
#if VSML_HAVE_GLFW
    viz_window *w = NULL;
    bool glfw = false;
    if (!o->offscreen) {
        if (viz_window_init(&ep.instance_exts, &ep.n_instance_exts) != 0)
            return 1;
        glfw = true;
        ep.swapchain = true;
        ep.present_ok = viz_window_present_ok;
    }
#endif
    if (vsml_engine_create(&a.eng, &ep) != 0)
        goto out;
    a.vk = vsml_engine_vk(a.eng);
    /* before any work and before any file: a frame the device cannot bind */
    uint64_t max_bytes = vk_max_binding_bytes(a.vk);
    int fit_w = a.W, fit_h = a.H;
    if (viz_fit_size(max_bytes, &fit_w, &fit_h)) {
        vsml_err("--size %dx%d is too large for %s: its frame takes %.1f MiB per buffer, the "
                 "device binds at most %.1f MiB (use at most about %dx%d)", a.W, a.H,
                 a.vk->props.deviceName, (double)a.W * a.H * 4 / 1048576.0,
                 max_bytes / 1048576.0, fit_w, fit_h);
        goto out;
    }
    if (scene_open(&a, o->dataset, &a.sc) != 0 || episode_start(&a) != 0)
        goto out;
    if (o->offscreen) {
        if (run_offscreen(&a) != 0)
            goto out;
    } else {
#if VSML_HAVE_GLFW
        if (render_update(&a, "starting", 0, 0, 0) != 0 ||
            viz_window_open(a.vk, a.sc.r, a.W, a.H, "vsml-vk viz", &w) != 0)
            goto out;
        printf("viz: window %dx%d on %s\n", a.W, a.H, a.vk->props.deviceName);
        fflush(stdout);
        if (run_window(&a, w) != 0)
            goto out;
#endif
    }
    rc = 0;
    if (vsml_engine_validation_errors(a.eng) > 0) {
        vsml_err("the validation layer reported %d error(s)", vsml_engine_validation_errors(a.eng));
        rc = 1;
    }
out:
    scene_free(&a.sc);
#if VSML_HAVE_GLFW
    viz_window_close(&w);
#endif
    vsml_baseline_destroy(&a.base);
    vsml_engine_destroy(&a.eng);
#if VSML_HAVE_GLFW
    if (glfw)
        viz_window_terminate();
#endif
    free(a.ring);
    free(a.img);
    free(a.cum[0]);
    free(a.cum[1]);
    return rc;
}

int cmd_viz(int argc, char **argv)
{
    viz_opts o = {.seed = 0, .data_seed = 1, .dataset = "mnist", .size = "1280x720",
                  .baseline = "none", .speed = 50,
                  .model = {.micro_ticks = 2, .init = "random", .loss = "mean"}};
    const opt opts[] = {
        {"params", OPT_STR, &o.params, "parameter file (default: " CLI_DEFAULT_PARAMS ")", 1, 0},
        {"dataset", OPT_STR, &o.dataset, "mnist | fashion_mnist | emnist | kmnist | cifar10 | sumsign | random | idx (mnist)", 1, 0},
        CLI_DATA_OPT_ROWS(o),
        {"seed", OPT_U64, &o.seed, "seed of the learner's initial states (0); r adds 1", 1, 0},
        {"data-seed", OPT_U64, &o.data_seed, "seed of the example order and synthetic data (1)", 1, 0},
        {"steps", OPT_INT, &o.steps, "episode length in the window (10000); with --offscreen: "
         "steps before the frame is drawn (100)", 1, 1000000},
        {"baseline", OPT_STR, &o.baseline, "sgd | adam | none: a linear learner on the same "
         "examples beside VSML (none)", 1, 0},
        {"speed", OPT_INT, &o.speed, "steps per second to start with (50)", 1, 100000},
        {"size", OPT_STR, &o.size, "window or image size WIDTHxHEIGHT (1280x720)", 1, 0},
        {"offscreen", OPT_STR, &o.offscreen, "render one frame after --steps steps to this PNG "
         "file, without a window", 1, 0},
        CLI_MODEL_OPT_ROWS(o.model),
        {"init", OPT_STR, &o.model.init, "initial states: random | zeros", 1, 0},
        {"device", OPT_STR, &o.device, "Vulkan device index or name substring", 1, 0},
        {"validation", OPT_FLAG, &o.validation, "enable the Khronos validation layer", 1, 0},
        {"force", OPT_FLAG, &o.force, "replace an existing --offscreen file", 1, 0},
    };
    int r = args_parse(argc, argv, opts, (int)VSML_ARRAY_SIZE(opts), "vsml-vk viz [options]",
                       "Watch VSML learn online: output probabilities of the last 100 steps "
                       "(one row per class; square = true class, ring = prediction), the "
                       "input, the running accuracy.\n"
                       "Keys: space pause/resume, n or right arrow single step, + / - speed, "
                       "r reset (a fresh learner), d next dataset, q or Esc quit. The window "
                       "can be resized.");
    if (r != 0)
        return r > 0 ? 0 : 2;
    return run(&o);
}
