/* vsml-vk train: ES meta-training (spec section 6) with a run directory:
 * config.cfg (resolved), metrics.jsonl, ckpt-<step>.safetensors (the last
 * keep_checkpoints), best.safetensors and final.safetensors (parameter files
 * that `vsml-vk rollout --params` reads). --resume continues bitwise
 * identically from the newest complete checkpoint. */
#define _GNU_SOURCE /* sched_getaffinity */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/cli_mpi.h"
#include "vsml/es.h"
#include "vsml/log.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

/* assets/small.cfg, byte for byte (tests/test_train.sh checks it). */
static const char default_cfg[] =
"# vsml-vk train: the small default configuration (also built in: running\n"
    "# `vsml-vk train` without --config uses exactly these values).\n"
    "# Sum Sign, 8 inputs, 2 classes, episodes of T = 50, 64 antithetic pairs,\n"
    "# one task per 16 pairs; spec section 6 ES defaults. From scratch the mean\n"
    "# episode loss sits at ln 2 = 0.693 for about 400-550 steps, then falls.\n"
    "\n"
    "# model (spec sections 2-5)\n"
    "layers = 8,2\n"
    "micro_ticks = 2\n"
    "feed_label = false\n"
    "backward_pass = false\n"
    "per_layer_params = false\n"
    "clip_state = 0\n"
    "init = random\n"
    "loss = mean\n"
    "\n"
    "# evolution strategies (spec section 6)\n"
    "pairs = 64\n"
    "pairs_per_task = 16\n"
    "T = 50\n"
    "steps = 1000\n"
    "sigma = 0.05\n"
    "lr = 0.025\n"
    "weight_decay = 0\n"
    "grad_clip = 0\n"
    "rank_shaping = false\n"
    "on_nonfinite = skip\n"
    "seed = 1\n"
    "\n"
    "# data (spec section 7)\n"
    "dataset = sumsign\n"
    "data_dir =\n"
    "input_dim = 8\n"
    "classes = 2\n"
    "project = false\n"
    "permute_labels = false\n"
    "\n"
    "# meta-test on held-out episodes (Sum Sign with another data seed)\n"
    "eval_dataset = sumsign\n"
    "eval_seed = 1000003\n"
    "eval_every = 50\n"
    "eval_episodes = 32\n"
    "eval_steps = 100\n"
    "\n"
    "# bookkeeping\n"
    "checkpoint_every = 50\n"
    "keep_checkpoints = 3\n"
    "log_every = 10\n";

#define CKPT_FORMAT "vsml-vk-es-checkpoint-1"
#define MAX_SETS_ARGS 64
#define ERRS_SIZE 8192

typedef struct train_opts {
    const char *config, *run, *resume, *device, *init_params, *share;
    const char *sets[MAX_SETS_ARGS];
    int n_sets, steps, mpi_timeout;
    bool force, validation, print_config, print_default;
} train_opts;

static volatile sig_atomic_t stop_requested;
/* MPI ranks (one process of rank 0 when not under mpirun). Rank 0 alone
 * prints progress and touches the run directory. */
static cli_mpi mpi;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- configuration ---- */

/* Config files are small; metrics.jsonl of a long run is not (~250 bytes a
 * step), so each caller gives its own bound. */
#define CONFIG_MAX_BYTES ((size_t)1 << 20)
#define METRICS_MAX_BYTES ((size_t)4 << 30)

static int read_text(const char *path, size_t max_bytes, char **text)
{
    uint8_t *buf;
    size_t len;
    if (vsml_read_file(path, max_bytes, &buf, &len) != 0)
        return -1;
    char *s = realloc(buf, len + 1);
    if (!s) {
        free(buf);
        vsml_err("out of memory reading %s", path);
        return -1;
    }
    s[len] = 0;
    *text = s;
    return 0;
}

static int parse_file(vsml_train_config *c, const char *path, char *errs)
{
    char *text;
    if (read_text(path, CONFIG_MAX_BYTES, &text) != 0)
        return -1;
    vsml_train_config_parse(c, text, path, errs, ERRS_SIZE);
    free(text);
    return 0;
}

/* A path that exists but is no directory cannot be a run directory (and
 * --force leaves such a file alone). */
static int not_a_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        vsml_err("%s exists and is not a directory", dir);
        return -1;
    }
    return 0;
}

/* Base (built-in or the resumed run's), --config, --set, --steps; every
 * problem is reported in one message before anything is created. On
 * --resume only the keys outside the configuration hash (steps, eval_every,
 * bookkeeping) may differ from the run's config.cfg. */
static int resolve_config(const train_opts *o, vsml_train_config *c)
{
    char errs[ERRS_SIZE] = "", base_path[4096];
    vsml_train_config was;
    vsml_train_config_default(c);
    if (o->resume) {
        struct stat st;
        if (not_a_dir(o->resume) != 0)
            return -1;
        if (stat(o->resume, &st) != 0) {
            vsml_err("cannot resume %s: %s", o->resume, strerror(errno));
            return -1;
        }
        snprintf(base_path, sizeof(base_path), "%s/config.cfg", o->resume);
        if (parse_file(c, base_path, errs) != 0)
            return -1;
        was = *c;
    } else {
        vsml_train_config_parse(c, default_cfg, "built-in default", errs, ERRS_SIZE);
    }
    if (o->config && parse_file(c, o->config, errs) != 0)
        return -1;
    for (int i = 0; i < o->n_sets; i++)
        vsml_train_config_set(c, o->sets[i], errs, ERRS_SIZE);
    if (o->steps >= 0)
        c->steps = o->steps;
    /* state_size = 0: N of the --init-params file (kept in the run's config) */
    if (!o->resume && o->init_params && c->state_size == 0 &&
        (c->state_size = vsml_params_file_state_size(o->init_params)) < 0)
        return -1;
    vsml_train_config_validate(c, errs, ERRS_SIZE);
    if (*errs) {
        vsml_err("invalid configuration:\n  %s", errs);
        return -1;
    }
    if (o->resume && vsml_train_config_resume_diff(&was, c, errs, ERRS_SIZE) > 0) {
        vsml_err("--resume %s: %s", o->resume, errs);
        return -1;
    }
    return 0;
}

/* ---- the run directory ---- */

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            break;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        vsml_err("cannot create run directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* ckpt-<step>.safetensors: returns step or -1. */
static long ckpt_step(const char *name)
{
    long s;
    int n = 0;
    if (sscanf(name, "ckpt-%ld.safetensors%n", &s, &n) == 1 && name[n] == 0 && s >= 0)
        return s;
    return -1;
}

/* Steps of the checkpoints in dir, descending; returns the count. */
static int list_ckpts(const char *dir, long *steps, int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        long s = ckpt_step(e->d_name);
        if (s >= 0)
            steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && steps[j] > steps[j - 1]; j--) {
            long t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    return n;
}

static void ckpt_path(char *buf, size_t size, const char *dir, long step)
{
    snprintf(buf, size, "%s/ckpt-%ld.safetensors", dir, step);
}

static void prune_ckpts(const char *dir, int keep)
{
    long steps[4096];
    int n = list_ckpts(dir, steps, 4096);
    for (int i = keep; i < n; i++) {
        char p[4096];
        ckpt_path(p, sizeof(p), dir, steps[i]);
        if (unlink(p) != 0)
            vsml_warn("cannot remove old checkpoint %s: %s", p, strerror(errno));
    }
}

/* A fresh run refuses an existing directory unless --force (which clears
 * the old checkpoints and metrics). */
static int check_dir(const train_opts *o, const char *dir)
{
    if (not_a_dir(dir) != 0)
        return -1;
    if (!o->resume && path_exists(dir) && !o->force) {
        vsml_err("run directory %s already exists; use --resume %s to continue it or "
                 "--force to start over in it", dir, dir);
        return -1;
    }
    return 0;
}

static int prepare_dir(const char *dir)
{
    if (mkdir_p(dir) != 0)
        return -1;
    long steps[4096];
    int n = list_ckpts(dir, steps, 4096);
    for (int i = 0; i < n; i++) {
        char p[4096];
        ckpt_path(p, sizeof(p), dir, steps[i]);
        unlink(p);
    }
    char p[4096];
    const char *old[] = {"metrics.jsonl", "best.safetensors", "final.safetensors"};
    for (size_t i = 0; i < VSML_ARRAY_SIZE(old); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, old[i]);
        unlink(p);
    }
    return 0;
}

static int write_config(const char *dir, const vsml_train_config *c)
{
    char *text = vsml_train_config_format(c), p[4096];
    if (!text)
        return -1;
    snprintf(p, sizeof(p), "%s/config.cfg", dir);
    int rc = vsml_write_file_atomic(p, text, strlen(text));
    free(text);
    return rc;
}

/* ---- checkpoints ---- */

typedef struct run_state {
    const vsml_train_config *c;
    vsml_trainer *tr;
    const char *dir;
    long step;        /* completed ES steps */
    double best;      /* best meta-test accuracy so far, -1 = none */
} run_state;

/* The named parameter blocks too, so that `vsml-vk rollout --params` also
 * reads a checkpoint. */
static int param_views(vsml_trainer *tr, vsml_tensor *ts)
{
    return vsml_params_tensors(vsml_trainer_model(tr), vsml_trainer_theta(tr), ts);
}

static vsml_tensor flat_tensor(const char *name, float *data, size_t n)
{
    vsml_tensor t = {.dtype = VSML_F32, .ndim = 1, .shape = {(int64_t)n}, .data = data,
                     .nbytes = n * 4};
    snprintf(t.name, sizeof(t.name), "%s", name);
    return t;
}

static int save_ckpt(const run_state *s)
{
    size_t n = vsml_trainer_param_count(s->tr);
    vsml_trainer *tr = s->tr;
    vsml_tensor ts[3 + VSML_PARAM_TENSORS_MAX];
    ts[0] = flat_tensor("theta", vsml_trainer_theta(tr), n);
    ts[1] = flat_tensor("adam_m", vsml_trainer_adam_m(tr), n);
    ts[2] = flat_tensor("adam_v", vsml_trainer_adam_v(tr), n);
    int nt = 3 + param_views(tr, ts + 3);
    char step[32], seed[32], hash[32], best[32], p[4096], sn[16], sm[16], sb[16];
    snprintf(step, sizeof(step), "%ld", s->step);
    snprintf(seed, sizeof(seed), "%" PRIu64, s->c->seed);
    snprintf(hash, sizeof(hash), "%016" PRIx64, vsml_train_config_hash(s->c));
    snprintf(best, sizeof(best), "%.17g", s->best);
    snprintf(sn, sizeof(sn), "%d", vsml_state_size(vsml_trainer_model(tr)));
    snprintf(sm, sizeof(sm), "%d", VSML_M);
    snprintf(sb, sizeof(sb), "%d", vsml_param_blocks(vsml_trainer_model(tr)));
    vsml_st_meta meta[] = {{"format", CKPT_FORMAT}, {"step", step}, {"seed", seed},
                           {"config_hash", hash}, {"best_accuracy", best},
                           {"N", sn}, {"M", sm}, {"blocks", sb}};
    ckpt_path(p, sizeof(p), s->dir, s->step);
    if (vsml_st_write(p, ts, nt, meta, (int)VSML_ARRAY_SIZE(meta)) != 0)
        return -1;
    prune_ckpts(s->dir, s->c->keep_checkpoints);
    return 0;
}

static int copy_tensor(const vsml_st *st, const char *path, const char *name, float *dst,
                       size_t n)
{
    const vsml_tensor *t = vsml_st_find(st, name);
    if (!t || t->dtype != VSML_F32 || t->nbytes != n * 4) {
        vsml_err("%s: tensor %s is missing or not F32[%zu]", path, name, n);
        return -1;
    }
    memcpy(dst, t->data, n * 4);
    return 0;
}

static int load_ckpt(run_state *s, const char *path)
{
    vsml_st st;
    if (vsml_st_read(path, &st) != 0)
        return -1;
    int rc = -1;
    const char *fmt = vsml_st_get_meta(&st, "format"), *step = vsml_st_get_meta(&st, "step");
    const char *hash = vsml_st_get_meta(&st, "config_hash");
    const char *best = vsml_st_get_meta(&st, "best_accuracy");
    char want[32];
    snprintf(want, sizeof(want), "%016" PRIx64, vsml_train_config_hash(s->c));
    size_t n = vsml_trainer_param_count(s->tr);
    if (!fmt || strcmp(fmt, CKPT_FORMAT) || !step || !hash || !best)
        vsml_err("%s: not a vsml-vk training checkpoint", path);
    else if (strcmp(hash, want))
        vsml_err("%s: written with another configuration (hash %s; the run's config.cfg "
                 "now hashes to %s)", path, hash, want);
    else if (!copy_tensor(&st, path, "theta", vsml_trainer_theta(s->tr), n) &&
             !copy_tensor(&st, path, "adam_m", vsml_trainer_adam_m(s->tr), n) &&
             !copy_tensor(&st, path, "adam_v", vsml_trainer_adam_v(s->tr), n)) {
        char *e1, *e2;
        long st_step = strtol(step, &e1, 10);
        double st_best = strtod(best, &e2);
        if (!*step || *e1 || st_step < 0 || st_step > VSML_METRICS_MAX_STEP || !*best || *e2 ||
            !(st_best >= -1 && st_best <= 1))
            vsml_err("%s: step '%s' or best_accuracy '%s' is out of range", path, step,
                     best);
        else {
            s->step = st_step;
            s->best = st_best;
            rc = 0;
        }
    }
    vsml_st_free(&st);
    return rc;
}

/* Temporary files of atomic writes (NAME.tmp.PID.N) that a killed run left. */
static void remove_stale_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *t = strstr(e->d_name, ".tmp.");
        size_t pid_n = t ? strspn(t + 5, "0123456789") : 0;
        if (!t || e->d_name[0] == '.' || pid_n == 0 || t[5 + pid_n] != '.' ||
            t[6 + pid_n] == 0 || strspn(t + 6 + pid_n, "0123456789") != strlen(t + 6 + pid_n))
            continue; /* only NAME.tmp.<pid>.<n>, as vsml_write_pieces_atomic names them */
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            vsml_warn("cannot remove %s: %s", p, strerror(errno));
    }
    closedir(d);
}

/* The newest checkpoint that loads; older ones are the fallback. A
 * checkpoint that does not load is a warning with its reason (its error,
 * captured), and an error only when none does. */
static int load_newest(run_state *s)
{
    long steps[4096];
    char why_buf[1024];
    int n = list_ckpts(s->dir, steps, 4096), rc = -1;
    for (int i = 0; i < n && rc != 0; i++) {
        char p[4096];
        ckpt_path(p, sizeof(p), s->dir, steps[i]);
        vsml_log_capture_errors(why_buf, sizeof(why_buf));
        rc = load_ckpt(s, p);
        vsml_log_capture_errors(NULL, 0);
        if (rc == 0) {
            printf("resuming %s from step %ld (%s)\n", s->dir, s->step, p);
            fflush(stdout);
            break;
        }
        /* the reasons start with the file's name: say it once */
        size_t pl = strlen(p);
        const char *why = why_buf;
        if (!strncmp(why, p, pl) && !strncmp(why + pl, ": ", 2))
            why += pl + 2;
        vsml_warn("skipping checkpoint %s: %s", p, *why ? why : "it does not load");
    }
    if (rc != 0 && n == 0)
        vsml_err("no checkpoint ckpt-<step>.safetensors in %s to resume from", s->dir);
    else if (rc != 0)
        vsml_err("no loadable checkpoint in %s (%d ckpt-<step>.safetensors skipped, see the "
                 "warnings above)", s->dir, n);
    return rc;
}

/* ---- metrics ---- */

/* Keeps the lines of steps <= step (a killed run may have logged more). */
static int truncate_metrics(const char *dir, long step)
{
    char p[4096], *text = NULL;
    snprintf(p, sizeof(p), "%s/metrics.jsonl", dir);
    if (!path_exists(p))
        return 0;
    if (read_text(p, METRICS_MAX_BYTES, &text) != 0)
        return -1;
    size_t len = vsml_metrics_keep_steps(text, strlen(text), step);
    int rc = vsml_write_file_atomic(p, text, len);
    free(text);
    return rc;
}

static void log_metrics(FILE *f, const vsml_step_info *si, const vsml_eval_info *ev)
{
    if (!f)
        return;
    fprintf(f, "{\"step\":%u,\"fitness_mean\":%.6g,\"fitness_std\":%.6g,\"grad_norm\":%.6g,"
            "\"step_time_s\":%.4f,\"device_run_s\":%.4f,\"episodes_per_s\":%.1f,"
            "\"nonfinite_pairs\":%d",
            si->step + 1, si->fitness_mean, si->fitness_std, si->grad_norm, si->step_s, si->run_s,
            si->episodes_per_s, si->nonfinite_pairs);
    if (mpi.size > 1)
        fprintf(f, ",\"ranks\":%d,\"comm_s\":%.4f", mpi.size, si->comm_s);
    if (ev)
        fprintf(f, ",\"eval_accuracy\":%.6g,\"eval_loss\":%.6g", ev->accuracy, ev->loss);
    fprintf(f, "}\n");
    fflush(f);
}

static void progress(const run_state *s, const vsml_step_info *si, double acc, double avg_s,
                     bool tty)
{
    long done = s->step, total = s->c->steps;
    double eta = avg_s * (double)(total - done);
    char acc_s[16] = "  -  "; /* no meta-test yet */
    if (!isnan(acc))
        snprintf(acc_s, sizeof(acc_s), "%5.3f", acc);
    if (tty) {
        printf("\rstep %ld/%ld  fitness %.4f  acc %s  %.0f episodes/s  ETA %02d:%02d:%02d ",
               done, total, si->fitness_mean, acc_s, si->episodes_per_s, (int)(eta / 3600),
               (int)fmod(eta / 60, 60), (int)fmod(eta, 60));
        fflush(stdout);
    } else if (done % s->c->log_every == 0 || done == total) {
        printf("step %ld/%ld fitness %.4f (std %.4f) acc %s %.2f s/step %.0f episodes/s "
               "ETA %.0f s\n", done, total, si->fitness_mean, si->fitness_std, acc_s,
               si->step_s, si->episodes_per_s, eta);
        fflush(stdout);
    }
}

static int save_params(const run_state *s, const char *name)
{
    char p[4096], step[32];
    snprintf(p, sizeof(p), "%s/%s", s->dir, name);
    snprintf(step, sizeof(step), "%ld", s->step);
    const char *kv[] = {"es_step", step};
    return vsml_params_save(p, vsml_trainer_model(s->tr), vsml_trainer_theta(s->tr), 1, kv);
}

/* ---- the loop ---- */

static int eval_step(run_state *s, vsml_eval_info *ev)
{
    if (vsml_trainer_eval(s->tr, ev) != 0)
        return -1;
    if (ev->accuracy > s->best) {
        s->best = ev->accuracy;
        return save_params(s, "best.safetensors");
    }
    return 0;
}

static int train_loop(run_state *s, FILE *metrics)
{
    const vsml_train_config *c = s->c;
    bool tty = isatty(STDOUT_FILENO) && mpi.rank == 0, root = mpi.rank == 0;
    double acc = NAN, total_s = 0;
    long first = s->step;
    mpi.armed = true;
    bool stop = cli_mpi_agree(&mpi, stop_requested ? 1 : 0) != 0;
    while (s->step < c->steps && !stop) {
        vsml_step_info si;
        vsml_eval_info ev;
        cli_mpi_take_comm(&mpi);
        if (vsml_trainer_step(s->tr, (uint32_t)s->step, &si) != 0)
            return -1;
        s->step++;
        /* every rank stops after the same step when any of them was asked to */
        stop = cli_mpi_agree(&mpi, stop_requested ? 1 : 0) != 0;
        si.comm_s = cli_mpi_take_comm(&mpi);
        if (!root)
            continue;
        bool do_eval = c->eval_every > 0 && (s->step % c->eval_every == 0 || s->step == c->steps);
        if (do_eval && eval_step(s, &ev) != 0)
            return -1;
        acc = do_eval ? ev.accuracy : acc;
        log_metrics(metrics, &si, do_eval ? &ev : NULL);
        total_s += si.step_s;
        progress(s, &si, acc, total_s / (double)(s->step - first), tty);
        if ((s->step % c->checkpoint_every == 0 || stop) && save_ckpt(s) != 0)
            return -1;
    }
    stop_requested = stop;
    if (!root)
        return 0;
    if (tty)
        printf("\n");
    if (stop_requested && s->step == first && save_ckpt(s) != 0)
        return -1;
    if (stop_requested)
        printf("interrupted: stopped after step %ld with a checkpoint; continue with "
               "--resume %s\n", s->step, s->dir);
    return 0;
}

static int start_state(const train_opts *o, const vsml_train_config *c, float **theta)
{
    vsml_model_config cfg;
    if (vsml_train_model_config(c, &cfg) != 0)
        return -1;
    if (o->init_params)
        return vsml_params_load(o->init_params, &cfg, theta);
    *theta = malloc(vsml_param_count(&cfg) * 4);
    if (!*theta) {
        vsml_err("out of memory");
        return -1;
    }
    vsml_params_init(&cfg, c->seed, *theta);
    return 0;
}

static FILE *open_metrics(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/metrics.jsonl", dir);
    FILE *f = fopen(p, "a");
    if (!f)
        vsml_err("cannot open %s: %s", p, strerror(errno));
    return f;
}

static void default_run_dir(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(buf, size, "runs/%s", stamp);
}

/* Rank 0 decides the state (fresh or from the newest checkpoint); every
 * rank receives it, so the other ranks need not see the run directory. */
static int share_state(run_state *s)
{
    size_t n = vsml_trainer_param_count(s->tr);
    if (cli_mpi_bcast(&mpi, &s->step, sizeof(s->step)) != 0 ||
        cli_mpi_bcast(&mpi, &s->best, sizeof(s->best)) != 0 ||
        cli_mpi_bcast(&mpi, vsml_trainer_theta(s->tr), 4 * n) != 0 ||
        cli_mpi_bcast(&mpi, vsml_trainer_adam_m(s->tr), 4 * n) != 0 ||
        cli_mpi_bcast(&mpi, vsml_trainer_adam_v(s->tr), 4 * n) != 0)
        return -1;
    return 0;
}

/* llvmpipe's worker threads hang when mpirun binds a rank to one core
 * (its default for 2 ranks); the fence timeout would only end it later. */
static void warn_bound_cpu_device(const vsml_engine *eng)
{
    vsml_device_info info;
    cpu_set_t set;
    vsml_engine_info(eng, &info);
    if (mpi.size > 1 && !strcmp(info.type, "CPU") &&
        sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1)
        vsml_warn("rank %d is bound to one CPU core and runs on %s, whose threads then hang: "
                  "start mpirun with --bind-to none", mpi.rank, info.name);
}

/* 0 when every rank got here with rc 0; a rank that did not says why
 * itself, the others end quietly with the same status. */
static int all_ok(int rc)
{
    return cli_mpi_agree(&mpi, rc != 0 ? 1 : 0) == 0 ? 0 : -1;
}

static int run(const train_opts *o, const vsml_train_config *c, const char *dir)
{
    int rc = 1;
    float *theta0 = NULL;
    vsml_engine *eng = NULL;
    FILE *metrics = NULL;
    bool root = mpi.rank == 0;
    run_state s = {.c = c, .dir = dir, .step = 0, .best = -1};
    char device[256];
    if (all_ok(root ? check_dir(o, dir) : 0) != 0)
        goto out;
    if (all_ok(cli_mpi_split(&mpi, c->pairs, o->share)) != 0 ||
        all_ok(cli_mpi_device(&mpi, o->device, device, sizeof(device))) != 0 ||
        all_ok(start_state(o, c, &theta0)) != 0)
        goto out;
    vsml_engine_params ep = {.device = *device ? device : NULL, .validation = o->validation};
    vsml_trainer_share sh = {.pair_begin = mpi.share[mpi.rank],
                             .pair_end = mpi.share[mpi.rank + 1], .no_eval = !root,
                             .exchange = mpi.size > 1 ? cli_mpi_exchange : NULL,
                             .user = &mpi};
    int made = vsml_engine_create(&eng, &ep) != 0 ||
               vsml_trainer_create_share(eng, c, theta0, &sh, &s.tr) != 0;
    if (all_ok(made) != 0)
        goto out;
    warn_bound_cpu_device(eng);
    /* the directory appears only once the data and the devices are ready */
    int ready = 0;
    if (root && !o->resume)
        ready = prepare_dir(dir) != 0 || write_config(dir, c) != 0;
    if (root && o->resume)
        ready = (remove_stale_tmp(dir), load_newest(&s) != 0) || truncate_metrics(dir, s.step) != 0 ||
                write_config(dir, c) != 0;
    if (root && !ready && !(metrics = open_metrics(dir)))
        ready = 1;
    if (all_ok(ready) != 0 || share_state(&s) != 0)
        goto out;
    if (root && mpi.size > 1)
        printf("training %s: %d pairs x T %d on %d MPI ranks (pairs per rank:", c->dataset,
               c->pairs, c->T, mpi.size);
    for (int r = 0; root && mpi.size > 1 && r < mpi.size; r++)
        printf(" %d%s", mpi.share[r + 1] - mpi.share[r], r + 1 < mpi.size ? "" : ")\n");
    if (root)
        printf("training %s: %d pairs x T %d, %d steps from step %ld, run directory %s\n",
               c->dataset, c->pairs, c->T, c->steps, s.step, dir);
    install_signals();
    if (train_loop(&s, metrics) != 0) {
        cli_mpi_abort(&mpi, 1);
        goto out;
    }
    if (root && !stop_requested && save_ckpt(&s) == 0 && save_params(&s, "final.safetensors") == 0)
        printf("done: %ld steps; parameters in %s/final.safetensors\n", s.step, dir);
    if (eng && vsml_engine_validation_errors(eng) > 0) {
        vsml_err("the validation layer reported %d error(s)", vsml_engine_validation_errors(eng));
        goto out;
    }
    rc = 0;
out:
    if (metrics)
        fclose(metrics);
    vsml_trainer_destroy(&s.tr);
    vsml_engine_destroy(&eng);
    free(theta0);
    return rc;
}

/* Pulls every --set KEY=VALUE out of argv (args_parse takes one value per option). */
static int take_sets(int *argc, char **argv, train_opts *o)
{
    int w = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (!strcmp(a, "--set")) {
            if (i + 1 >= *argc) {
                vsml_err("--set needs KEY=VALUE");
                return -1;
            }
            v = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            v = a + 6;
        }
        if (!v) {
            argv[w++] = argv[i];
            continue;
        }
        if (o->n_sets == MAX_SETS_ARGS) {
            vsml_err("more than %d --set options", MAX_SETS_ARGS);
            return -1;
        }
        o->sets[o->n_sets++] = v;
    }
    *argc = w;
    return 0;
}

/* Rank 0 resolves the configuration (and alone reports its problems);
 * the other ranks parse its resolved text. */
static int shared_config(const train_opts *o, vsml_train_config *c)
{
    int bad = 0;
    char *text = NULL;
    if (mpi.rank == 0)
        bad = resolve_config(o, c) != 0 || !(text = vsml_train_config_format(c));
    if (cli_mpi_agree(&mpi, bad) != 0) {
        free(text);
        return -1;
    }
    if (mpi.size == 1) {
        free(text);
        return 0;
    }
    uint64_t len = text ? strlen(text) + 1 : 0;
    cli_mpi_bcast(&mpi, &len, sizeof(len));
    if (mpi.rank != 0 && !(text = calloc(1, len)))
        bad = 1;
    if (cli_mpi_agree(&mpi, bad) != 0)
        return -1;
    cli_mpi_bcast(&mpi, text, len);
    char errs[ERRS_SIZE] = "";
    if (mpi.rank != 0) {
        vsml_train_config_default(c);
        if (vsml_train_config_parse(c, text, "rank 0's configuration", errs, ERRS_SIZE) != 0) {
            vsml_err("%s", errs);
            bad = 1;
        }
    }
    free(text);
    return cli_mpi_agree(&mpi, bad) != 0 ? -1 : 0;
}

static int train_main(const train_opts *o)
{
    vsml_train_config c;
    if (shared_config(o, &c) != 0)
        return 2;
    if (o->print_config && mpi.rank != 0)
        return 0;
    if (o->print_config) {
        char *text = vsml_train_config_format(&c);
        if (!text)
            return 1;
        fputs(text, stdout);
        free(text);
        return 0;
    }
    char dir[2048];
    const char *want = o->resume ? o->resume : o->run;
    if (want && strlen(want) >= sizeof(dir)) {
        vsml_err("run directory name is too long (%zu characters)", strlen(want));
        return 2;
    }
    if (want)
        snprintf(dir, sizeof(dir), "%s", want);
    else
        default_run_dir(dir, sizeof(dir));
    return run(o, &c, dir);
}

int cmd_train(int argc, char **argv)
{
    train_opts o = {.steps = -1, .mpi_timeout = -1};
    if (take_sets(&argc, argv, &o) != 0)
        return 2;
    const opt opts[] = {
        {"config", OPT_STR, &o.config, "configuration file (key = value); default: assets/small.cfg built in", 1, 0},
        {"set", OPT_STR, NULL, "KEY=VALUE: override one key (repeatable)", 1, 0},
        {"run", OPT_STR, &o.run, "run directory (default runs/<timestamp>)", 1, 0},
        {"resume", OPT_STR, &o.resume, "continue the run in this directory from its newest checkpoint", 1, 0},
        {"force", OPT_FLAG, &o.force, "start over in an existing run directory", 1, 0},
        {"steps", OPT_INT, &o.steps, "override the number of ES steps", 0, 100000000},
        {"init-params", OPT_STR, &o.init_params, "start from this parameter file instead of a fresh init", 1, 0},
        {"device", OPT_STR, &o.device, "Vulkan device index or name substring; under mpirun a comma-separated list, one per local rank (default: local rank modulo the device count)", 1, 0},
        {"share", OPT_STR, &o.share, "under mpirun: relative share of the pairs per rank, e.g. 2,1,1 (default equal)", 1, 0},
        {"mpi-timeout", OPT_INT, &o.mpi_timeout, "under mpirun: seconds a rank may wait in one exchange before it gives up (default 3600, 0 = forever)", 0, 100000000},
        {"validation", OPT_FLAG, &o.validation, "enable the Khronos validation layer", 1, 0},
        {"print-config", OPT_FLAG, &o.print_config, "print the resolved configuration and exit", 1, 0},
        {"print-default", OPT_FLAG, &o.print_default, "print the built-in default configuration and exit", 1, 0},
    };
    int r = args_parse(argc, argv, opts, (int)VSML_ARRAY_SIZE(opts), "vsml-vk train [options]",
                       "Meta-train the shared VSML parameters with OpenAI-ES on the device.");
    if (r != 0)
        return r > 0 ? 0 : 2;
    if (o.print_default) {
        fputs(default_cfg, stdout);
        return 0;
    }
    if (o.resume && o.run && strcmp(o.resume, o.run)) {
        vsml_err("--resume %s and --run %s name different directories", o.resume, o.run);
        return 2;
    }
    if (o.resume && o.init_params) {
        vsml_err("--init-params %s with --resume: a resumed run continues from its checkpoint "
                 "(start a new run to begin from a parameter file)", o.init_params);
        return 2;
    }
    if (cli_mpi_init(&mpi) != 0)
        return 2;
    if (o.mpi_timeout >= 0)
        mpi.timeout_s = o.mpi_timeout;
    int rc = train_main(&o);
    cli_mpi_finalize(&mpi);
    return rc;
}
