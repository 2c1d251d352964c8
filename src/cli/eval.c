/* vsml-vk eval: meta-test VSML parameters on one or more datasets against
 * online SGD and Adam (spec section 8), on the same example streams; write
 * results.json, results.csv and PNG plots, print a table. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vsml/datasets.h"
#include "vsml/engine.h"
#include "vsml/eval.h"
#include "vsml/log.h"
#include "vsml/util.h"
#include "vsml/clone.h"
#include "vsml_config.h"

#define MAX_DATASETS 16
#define DEFAULT_PARAMS CLI_DEFAULT_PARAMS
#define NO_SEED UINT64_MAX
#define SYNTH_MAX_EXAMPLES 20000

typedef struct eval_opts {
    const char *params, *out, *device, *data_dir, *baselines;
    const char *datasets[MAX_DATASETS];
    int n_datasets;
    uint64_t seed, data_seed, init_seed;
    bool force, validation, no_plots;
    int steps, seeds, window, synth_dim, hidden, threads;
    bool use_sgd, use_adam;
    bool cpu; /* VSML on the CPU (vsml_cpu_rollout) instead of the device */
    bool probe, gt_errors, ideal; /* with cpu: see --probe, --gt-errors, --ideal */
    cli_model_opts model;
} eval_opts;

/* One dataset's inputs to the run. */
typedef struct eval_set {
    vsml_dataset ds;
    vsml_model_config cfg;
    float *params;
} eval_set;

typedef struct eval_ctx {
    eval_opts *o;
    eval_set sets[MAX_DATASETS];
    char dir[4096];
    bool made_dir;
    char param_path[4096];
    vsml_engine *eng;
    vsml_device_info info;
    double vsml_s, baseline_s;
} eval_ctx;

/* ---- options ---- */

static int add_datasets(eval_opts *o, const char *list)
{
    const char *p = list;
    do {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= 64) {
            vsml_err("--dataset needs dataset names like sumsign,random (got '%s')", list);
            return -1;
        }
        if (o->n_datasets == MAX_DATASETS) {
            vsml_err("at most %d datasets per eval", MAX_DATASETS);
            return -1;
        }
        char *name = strndup(p, len);
        if (!name) {
            vsml_err("out of memory");
            return -1;
        }
        for (int i = 0; i < o->n_datasets; i++)
            if (!strcmp(o->datasets[i], name)) {
                vsml_err("dataset %s is given twice", name);
                free(name);
                return -1;
            }
        o->datasets[o->n_datasets++] = name;
        p = end ? end + 1 : NULL;
    } while (p);
    return 0;
}

/* Takes every --dataset NAME[,NAME] out of argv (the option may repeat);
 * the rest goes to args_parse. */
static int take_datasets(eval_opts *o, int argc, char **argv, int *rest_c, char **rest)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--dataset=", 10)) {
            if (add_datasets(o, a + 10) != 0)
                return -1;
        } else if (!strcmp(a, "--dataset")) {
            if (i + 1 >= argc) {
                vsml_err("--dataset needs a value");
                return -1;
            }
            if (add_datasets(o, argv[++i]) != 0)
                return -1;
        } else {
            rest[n++] = argv[i];
        }
    }
    *rest_c = n;
    return 0;
}

static int parse_baselines(eval_opts *o)
{
    const char *p = o->baselines;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        if (len == 3 && !strncmp(p, "sgd", 3))
            o->use_sgd = true;
        else if (len == 4 && !strncmp(p, "adam", 4))
            o->use_adam = true;
        else if (!(len == 4 && !strncmp(p, "none", 4))) {
            vsml_err("--baselines takes sgd, adam or none, comma-separated (got '%s')",
                     o->baselines);
            return -1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* --params, else --init-seed, else assets/learner.safetensors. */
static int resolve_params(eval_ctx *cx)
{
    eval_opts *o = cx->o;
    if (o->params && o->init_seed != NO_SEED) {
        vsml_err("pass either --params FILE or --init-seed N, not both");
        return -1;
    }
    if (o->params || o->init_seed != NO_SEED) {
        snprintf(cx->param_path, sizeof(cx->param_path), "%s", o->params ? o->params : "");
        return 0;
    }
    if (cli_default_params(cx->param_path, sizeof(cx->param_path)) == 0) {
        o->params = cx->param_path;
        return 0;
    }
    vsml_err("no parameters to evaluate: pass --params FILE (e.g. from vsml-vk train) or "
             "--init-seed N for fresh ones (%s cannot be read)", cx->param_path);
    return -1;
}

/* ---- the output directory ---- */

static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static int prepare_dir(eval_ctx *cx)
{
    eval_opts *o = cx->o;
    if (o->out) {
        snprintf(cx->dir, sizeof(cx->dir), "%s", o->out);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(cx->dir, sizeof(cx->dir), "eval-%Y%m%d-%H%M%S", &tm);
    }
    struct stat st;
    if (stat(cx->dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            vsml_err("--out %s exists and is not a directory", cx->dir);
            return -1;
        }
        if (!dir_empty(cx->dir) && !o->force) {
            vsml_err("output directory %s is not empty (pass --force to overwrite its results)",
                     cx->dir);
            return -1;
        }
        return 0;
    }
    if (mkdir(cx->dir, 0777) != 0) {
        vsml_err("cannot create output directory %s: %s", cx->dir, strerror(errno));
        return -1;
    }
    cx->made_dir = true;
    return 0;
}

/* ---- datasets and parameters ---- */

static int open_set(eval_ctx *cx, int i)
{
    eval_opts *o = cx->o;
    eval_set *es = &cx->sets[i];
    long n = (long)o->seeds * o->steps;
    /* Random: a task of its own (20 images, their labels) per seed, as the
     * spec's Random is resampled per task */
    vsml_dataset_req req = {.name = o->datasets[i], .data_dir = o->data_dir, .test_split = true,
                            .synth_n = n < SYNTH_MAX_EXAMPLES ? (int)n : SYNTH_MAX_EXAMPLES,
                            .synth_dim = o->synth_dim, .seed = o->data_seed,
                            .random_tasks = o->seeds};
    o->model.params_file = o->params;
    if (vsml_dataset_open(&req, &es->ds) != 0 || cli_model_config(&o->model, &es->ds, &es->cfg) != 0)
        return -1;
    if (o->params)
        return vsml_params_load(o->params, &es->cfg, &es->params);
    es->params = malloc(vsml_param_count(&es->cfg) * sizeof(float));
    if (!es->params) {
        vsml_err("out of memory");
        return -1;
    }
    vsml_params_init(&es->cfg, o->init_seed, es->params);
    return 0;
}

/* ---- one dataset ---- */

typedef struct run_bufs {
    int32_t *stream, *labels;
    uint32_t *ep_stream, *ep_init;
    float *logits, *loss, *nonfinite;
    uint8_t *correct;
} run_bufs;

static void free_bufs(run_bufs *b)
{
    free(b->stream);
    free(b->labels);
    free(b->ep_stream);
    free(b->ep_init);
    free(b->logits);
    free(b->loss);
    free(b->nonfinite);
    free(b->correct);
}

static int alloc_bufs(run_bufs *b, int S, int T, int C)
{
    size_t n = (size_t)S * T;
    b->labels = malloc(sizeof(int32_t) * n);
    b->ep_stream = malloc(sizeof(uint32_t) * S);
    b->ep_init = malloc(sizeof(uint32_t) * S);
    b->logits = malloc(sizeof(float) * n * C);
    b->loss = malloc(sizeof(float) * n);
    b->nonfinite = malloc(sizeof(float) * S);
    b->correct = malloc(n);
    if (!b->labels || !b->ep_stream || !b->ep_init || !b->logits || !b->loss || !b->nonfinite ||
        !b->correct) {
        vsml_err("out of memory for %d seeds x %d steps x %d outputs", S, T, C);
        return -1;
    }
    for (int s = 0; s < S; s++) {
        b->ep_stream[s] = (uint32_t)s;
        b->ep_init[s] = (uint32_t)s;
    }
    for (size_t i = 0; i < n; i++)
        b->labels[i] = b->stream[2 * i + 1];
    return 0;
}

static int finish_method(vsml_eval_method *m, const uint8_t *correct, const float *loss, int S,
                         int T, int window, double wall_s)
{
    m->wall_s = wall_s;
    m->loss = vsml_loss_stat(loss, S, T);
    return vsml_metrics_compute(correct, S, T, window, &m->m);
}

/* --cpu with --probe, --gt-errors or --ideal: the cloning diagnostics of
 * include/vsml/clone.h, with the targets the parameter file names. */
static int run_vsml_probe(eval_ctx *cx, eval_set *es, const vsml_episodes *ep,
                          const vsml_rollout_out *out)
{
    eval_opts *o = cx->o;
    vsml_clone_opts co;
    if (!o->params) {
        vsml_err("--probe, --gt-errors and --ideal need --params (a file from vsml-vk clone)");
        return -1;
    }
    if (vsml_clone_opts_from_file(cx->param_path, &co) != 0)
        return -1;
    if (o->ideal) {
        printf("%s: the imitated network (a perfect clone: gain %g, lr %g, lr_b %g, scale %g)\n",
               es->ds.name, co.gain, co.lr_target, co.lr_bias, co.scale);
        return vsml_clone_ideal_rollout(&co, &es->cfg, ep, out);
    }
    vsml_cpu_probe pr;
    memset(&pr, 0, sizeof(pr));
    pr.o = &co;
    pr.gt_errors = o->gt_errors;
    if (vsml_cpu_rollout_probe(&es->cfg, es->params, ep, out, o->threads > 0 ? o->threads : 2,
                               &pr) != 0)
        return -1;
    printf("%s: per layer, VSML against the imitated network%s (relative RMS errors; RMS "
           "values)\n", es->ds.name, o->gt_errors ? " (lower layers get its errors)" : "");
    for (int k = 0; k < es->cfg.n_layers; k++)
        printf("  layer %d: fwd %.3f  bwd %.3f  w-update %.3f | x %.3g  e %.3g  |w| %.3g  "
               "|b| %.3g  fwd ch2-7 %.3g  bwd ch1-7 %.3g\n", k,
               sqrt(pr.fwd_se[k] / fmax(pr.fwd_ss[k], 1e-30)),
               sqrt(pr.bwd_se[k] / fmax(pr.bwd_ss[k], 1e-30)),
               sqrt(pr.upd_se[k] / fmax(pr.upd_ss[k], 1e-30)),
               sqrt(pr.x_ss[k] / fmax(pr.n_fwd[k] / es->cfg.sizes[k + 1], 1)),
               sqrt(pr.e_ss[k] / fmax(pr.n_upd[k] / ((double)es->cfg.sizes[k] * es->cfg.sizes[k + 1]), 1)),
               sqrt(pr.w_ss[k] / fmax(pr.n_upd[k], 1)), sqrt(pr.b_ss[k] / fmax(pr.n_upd[k], 1)),
               sqrt(pr.fwd_other[k] / fmax(pr.n_fwd[k] * 6, 1)),
               sqrt(pr.bwd_other[k] / fmax(pr.n_bwd[k] * 7, 1)));
    return 0;
}

static int run_vsml(eval_ctx *cx, eval_set *es, run_bufs *b, vsml_eval_method *m)
{
    eval_opts *o = cx->o;
    int S = o->seeds, T = o->steps, C = es->cfg.sizes[es->cfg.n_layers];
    vsml_episodes ep = {.P = 1, .E = S, .T = T, .x = es->ds.x, .n_examples = es->ds.n,
                        .n_streams = S, .stream = b->stream, .ep_stream = b->ep_stream,
                        .ep_init = b->ep_init, .seed = o->seed};
    vsml_rollout_out out = {.logits = b->logits, .loss = b->loss, .nonfinite = b->nonfinite};
    vsml_run_stats st = {0};
    if (o->cpu && (o->probe || o->gt_errors || o->ideal)) {
        double t0 = vsml_now();
        if (run_vsml_probe(cx, es, &ep, &out) != 0)
            return -1;
        st.wall_s = vsml_now() - t0;
    } else if (o->cpu) {
        double t0 = vsml_now();
        if (vsml_cpu_rollout(&es->cfg, es->params, &ep, &out, o->threads > 0 ? o->threads : 2) != 0)
            return -1;
        st.wall_s = vsml_now() - t0;
    } else if (vsml_engine_rollout(cx->eng, &es->cfg, es->params, &ep, &out, &st) != 0) {
        return -1;
    }
    int bad = 0;
    for (int s = 0; s < S; s++)
        bad += b->nonfinite[s] != 0;
    if (bad)
        vsml_warn("%s: %d of %d VSML episodes produced a non-finite loss", es->ds.name, bad, S);
    vsml_correct_from_logits(b->logits, b->labels, (size_t)S * T, C, b->correct);
    snprintf(m->name, sizeof(m->name), "vsml");
    snprintf(m->label, sizeof(m->label), "VSML");
    cx->vsml_s += st.wall_s;
    double ups = (double)S * T * (double)vsml_model_sub_lstms(&es->cfg) * es->cfg.micro_ticks *
                 (es->cfg.backward_pass ? 2 : 1) / st.wall_s;
    printf("%s: VSML %d seeds x %d steps: %.2f s (%.3g sub-LSTM updates/s)\n", es->ds.name, S,
           T, st.wall_s, ups);
    fflush(stdout);
    return finish_method(m, b->correct, b->loss, S, T, o->window, st.wall_s);
}

static int run_baseline(eval_ctx *cx, eval_set *es, run_bufs *b, enum vsml_optimizer which,
                        int hidden, vsml_eval_method *m)
{
    eval_opts *o = cx->o;
    int S = o->seeds, T = o->steps;
    vsml_baseline_config bc;
    vsml_baseline_config_default(&bc, which, es->ds.dim, hidden, es->ds.n_classes);
    bool adam = which == VSML_OPT_ADAM;
    const char *on = adam ? "adam" : "sgd", *ol = adam ? "Adam" : "SGD";
    if (hidden) {
        snprintf(m->name, sizeof(m->name), "%s_hidden%d", on, hidden);
        snprintf(m->label, sizeof(m->label), "%s (%d tanh)", ol, hidden);
    } else {
        snprintf(m->name, sizeof(m->name), "%s_linear", on);
        snprintf(m->label, sizeof(m->label), "%s (linear)", ol);
    }
    double t0 = vsml_now();
    if (vsml_baseline_run(&bc, o->seed, es->ds.x, b->stream, S, T, o->threads, b->correct,
                          b->loss) != 0)
        return -1;
    double dt = vsml_now() - t0;
    cx->baseline_s += dt;
    printf("%s: %s %d seeds x %d steps: %.2f s\n", es->ds.name, m->label, S, T, dt);
    fflush(stdout);
    return finish_method(m, b->correct, b->loss, S, T, o->window, dt);
}

static int run_set(eval_ctx *cx, eval_set *es, vsml_eval_dataset *d)
{
    eval_opts *o = cx->o;
    run_bufs b = {0};
    int rc = -1;
    snprintf(d->name, sizeof(d->name), "%s", es->ds.name);
    d->dim = es->ds.dim;
    d->classes = es->ds.n_classes;
    d->examples = es->ds.n;
    d->n_layers = es->cfg.n_layers;
    memcpy(d->layers, es->cfg.sizes, sizeof(int) * (size_t)(es->cfg.n_layers + 1));
    int block = strcmp(es->ds.name, "random") ? 0 : es->ds.n / o->seeds;
    if (cli_make_streams_blocks(&es->ds, o->seeds, o->steps, o->data_seed, block, &b.stream) != 0 ||
        alloc_bufs(&b, o->seeds, o->steps, es->cfg.sizes[es->cfg.n_layers]) != 0)
        goto out;
    if (run_vsml(cx, es, &b, &d->methods[d->n_methods++]) != 0)
        goto out;
    for (int k = 0; k < 2; k++) {
        if (!(k == VSML_OPT_SGD ? o->use_sgd : o->use_adam))
            continue;
        for (int h = 0; h < 2; h++)
            if (run_baseline(cx, es, &b, (enum vsml_optimizer)k, h ? o->hidden : 0,
                             &d->methods[d->n_methods++]) != 0)
                goto out;
    }
    rc = 0;
out:
    free_bufs(&b);
    return rc;
}

/* ---- the whole run ---- */

static int write_outputs(eval_ctx *cx, vsml_eval_report *r)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/results.json", cx->dir);
    if (vsml_eval_write_json(p, r) != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/results.csv", cx->dir);
    if (vsml_eval_write_csv(p, r) != 0)
        return -1;
    if (!cx->o->no_plots && vsml_eval_write_plots(cx->dir, r) != 0)
        return -1;
    return 0;
}

static int run_all(eval_ctx *cx, vsml_eval_report *r)
{
    eval_opts *o = cx->o;
    double t0 = vsml_now();
    for (int i = 0; i < o->n_datasets; i++)
        if (open_set(cx, i) != 0)
            return -1;
    if (prepare_dir(cx) != 0)
        return -1;
    vsml_engine_params ep = {.device = o->device, .validation = o->validation};
    if (o->cpu)
        snprintf(cx->info.name, sizeof(cx->info.name), "CPU (vsml_cpu_rollout, float)");
    else if (vsml_engine_create(&cx->eng, &ep) != 0)
        return -1;
    else
        vsml_engine_info(cx->eng, &cx->info);
    *r = (vsml_eval_report){.params = o->params, .init_seed = o->init_seed,
                            .device = cx->info.name, .steps = o->steps, .seeds = o->seeds,
                            .window = o->window, .hidden = o->hidden, .seed = o->seed,
                            .data_seed = o->data_seed,
                            .state_bits = o->model.state_fp16 ? 16 : 32};
    r->datasets = calloc((size_t)o->n_datasets, sizeof(vsml_eval_dataset));
    if (!r->datasets) {
        vsml_err("out of memory");
        return -1;
    }
    for (int i = 0; i < o->n_datasets; i++) {
        r->n_datasets = i + 1;
        if (run_set(cx, &cx->sets[i], &r->datasets[i]) != 0)
            return -1;
    }
    if (cx->eng && vsml_engine_validation_errors(cx->eng) > 0) {
        vsml_err("the validation layer reported %d error(s)",
                 vsml_engine_validation_errors(cx->eng));
        return -1;
    }
    r->total_s = vsml_now() - t0;
    if (write_outputs(cx, r) != 0)
        return -1;
    vsml_eval_print_table(r);
    printf("baselines took %.2f s in all, the VSML rollouts %.2f s (%.1f%%); total %.1f s\n",
           cx->baseline_s, cx->vsml_s,
           cx->vsml_s > 0 ? 100.0 * cx->baseline_s / cx->vsml_s : 0.0, r->total_s);
    printf("wrote %s/results.json, results.csv%s\n", cx->dir,
           o->no_plots ? "" : ", curves_*.png, online_accuracy.png, first100_accuracy.png");
    return 0;
}

static int run(eval_opts *o)
{
    eval_ctx cx = {.o = o};
    vsml_eval_report r = {0};
    int rc = 1;
    if (parse_baselines(o) == 0 && resolve_params(&cx) == 0 && run_all(&cx, &r) == 0)
        rc = 0;
    if (rc != 0 && cx.made_dir)
        rmdir(cx.dir); /* only when still empty */
    vsml_eval_report_free(&r);
    vsml_engine_destroy(&cx.eng);
    for (int i = 0; i < o->n_datasets; i++) {
        vsml_dataset_free(&cx.sets[i].ds);
        free(cx.sets[i].params);
    }
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o = {.steps = 2000, .seeds = 32, .window = 0, .hidden = 160, .seed = 0,
                   .data_seed = 2, .init_seed = NO_SEED, .baselines = "sgd,adam",
                   .model = {.micro_ticks = 2, .init = "random", .loss = "mean"}};
    const opt opts[] = {
        {"params", OPT_STR, &o.params, "parameter file (default: " DEFAULT_PARAMS " if present)", 1, 0},
        {"init-seed", OPT_U64, &o.init_seed, "evaluate fresh parameters drawn with this seed", 0, 1e18},
        {"dataset", OPT_STR, NULL, "dataset(s), repeatable or comma-separated (sumsign): sumsign | random | mnist | fashion_mnist | emnist | kmnist (test split)", 1, 0},
        {"data-dir", OPT_STR, &o.data_dir, "where IDX datasets live", 1, 0},
        {"input-dim", OPT_INT, &o.synth_dim, "input size of synthetic datasets (784)", 1, 1 << 20},
        {"steps", OPT_INT, &o.steps, "examples per episode (2000)", 1, 1000000},
        {"seeds", OPT_INT, &o.seeds, "independent episodes, run as one batch (32)", 1, 4096},
        {"window", OPT_INT, &o.window, "learning-curve window in steps (100; steps/10 below 1000 steps)", 1, 1000000},
        {"seed", OPT_U64, &o.seed, "seed of the initial states and baseline weights (0)", 1, 0},
        {"data-seed", OPT_U64, &o.data_seed, "seed of the example order and synthetic data (2)", 1, 0},
        {"baselines", OPT_STR, &o.baselines, "sgd,adam | sgd | adam | none (sgd,adam)", 1, 0},
        {"hidden", OPT_INT, &o.hidden, "hidden tanh units of the deeper baselines (160)", 1, 100000},
        {"threads", OPT_INT, &o.threads, "threads for the baselines (0 = all CPUs)", 0, 256},
        CLI_MODEL_OPT_ROWS(o.model),
        {"out", OPT_STR, &o.out, "output directory (eval-<timestamp>)", 1, 0},
        {"force", OPT_FLAG, &o.force, "write into a non-empty output directory", 1, 0},
        {"no-plots", OPT_FLAG, &o.no_plots, "skip the PNG plots", 1, 0},
        {"device", OPT_STR, &o.device, "Vulkan device index or name substring", 1, 0},
        {"validation", OPT_FLAG, &o.validation, "enable the Khronos validation layer", 1, 0},
        {"cpu", OPT_FLAG, &o.cpu, "run VSML on the CPU (float, --threads) instead of a device", 1, 0},
        {"probe", OPT_FLAG, &o.probe, "with --cpu and a cloned --params: per layer, how closely VSML follows the network it imitates (clone.h)", 1, 0},
        {"gt-errors", OPT_FLAG, &o.gt_errors, "with --cpu --backward-pass: lower layers get the imitated network's errors (B.1's curriculum, stage 2)", 1, 0},
        {"ideal", OPT_FLAG, &o.ideal, "with --cpu: run the network a cloned --params imitates (a perfect clone) instead of VSML", 1, 0},
    };
    char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    int rest_c = 0, r = -1;
    if (!rest)
        vsml_err("out of memory");
    else if (take_datasets(&o, argc, argv, &rest_c, rest) == 0)
        r = args_parse(rest_c, rest, opts, (int)VSML_ARRAY_SIZE(opts),
                       "vsml-vk eval --params FILE [--dataset NAME]... [options]",
                       "Meta-test VSML parameters: online learning on each dataset's test "
                       "split, all seeds batched on the device, against online SGD and Adam "
                       "on the same example streams. Writes results.json, results.csv and "
                       "PNG plots to --out and prints a table.");
    free(rest);
    if (r == 0 && o.n_datasets == 0)
        r = add_datasets(&o, "sumsign");
    if (r == 0 && !o.cpu && (o.probe || o.gt_errors || o.ideal)) {
        vsml_err("--probe, --gt-errors and --ideal need --cpu");
        r = -1;
    }
    /* (given, not the default learner, which no clone wrote) */
    if (r == 0 && !o.params && (o.probe || o.gt_errors || o.ideal)) {
        vsml_err("--probe, --gt-errors and --ideal need --params (a file from vsml-vk clone)");
        r = -1;
    }
    if (r == 0 && !o.model.backward_pass && (o.probe || o.gt_errors)) {
        vsml_err("--probe and --gt-errors need --backward-pass (the errors they follow)");
        r = -1;
    }
    if (r == 0 && o.cpu && o.model.state_fp16) {
        vsml_err("--state-fp16 is the device's: eval --cpu keeps a 32-bit state");
        r = -1;
    }
    if (o.window == 0) /* at least 10 points on short curves */
        o.window = o.steps >= 1000 ? 100 : (o.steps >= 10 ? o.steps / 10 : 1);
    int rc = r > 0 ? 0 : r < 0 ? 2 : run(&o);
    for (int i = 0; i < o.n_datasets; i++)
        free((char *)o.datasets[i]);
    return rc;
}
