/* Meta-training with OpenAI-ES (spec section 6) on the device engine.
 *
 * The population counts antithetic PAIRS. Pair j of ES step s evaluates
 * theta + sigma * eps_j and theta - sigma * eps_j on the same episode, with
 * eps_j[i] = vsml_es_noise(seed, s, j, i): the device writes the perturbed
 * vectors and the host regenerates the same noise for the gradient, so no
 * noise table exists. Every random choice (tasks, streams, initial states)
 * is a pure function of (seed, step, pair): a run resumed from a checkpoint
 * is bitwise identical to an uninterrupted one.
 * Thread-safety: a trainer belongs to one thread; the free functions are pure. */
#ifndef VSML_ES_H
#define VSML_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsml/data.h"
#include "vsml/engine.h"
#include "vsml/model.h"

/* ---- the training configuration (key = value files) ---- */

#define VSML_CFG_STR 256
#define VSML_MAX_SETS 8

enum vsml_nonfinite_policy { VSML_NONFINITE_SKIP = 0, VSML_NONFINITE_STOP = 1 };

typedef struct vsml_train_config {
    /* model */
    char layers[VSML_CFG_STR]; /* "8,2": inputs, ..., outputs */
    int micro_ticks;
    bool feed_label, backward_pass, per_layer_params;
    float clip_state;
    char init[16];  /* random | zeros */
    char loss[16];  /* mean | last */
    int state_size; /* N: 16 | 64; 0 = the --init-params file's, else 16 */
    bool clear_bwd; /* see vsml_model_config */
    bool state_f16; /* key state_fp16; see vsml_model_config */
    /* ES */
    int pairs, pairs_per_task, T, steps;
    float sigma, lr, weight_decay, grad_clip;
    bool rank_shaping;
    char on_nonfinite[16]; /* skip | stop */
    uint64_t seed;
    /* data */
    char dataset[VSML_CFG_STR]; /* comma-separated names */
    char data_dir[VSML_CFG_STR]; /* empty = standard places */
    int input_dim, classes;
    int resize; /* resize IDX/CIFAR images to resize x resize first; 0 = off */
    bool project, permute_labels;
    /* meta-test */
    char eval_dataset[VSML_CFG_STR];
    uint64_t eval_seed;
    int eval_every, eval_episodes, eval_steps;
    /* bookkeeping */
    int checkpoint_every, keep_checkpoints, log_every;
} vsml_train_config;

/* Built-in defaults (the values of assets/small.cfg). */
void vsml_train_config_default(vsml_train_config *c);
/* Applies `key = value` text (comments with #) on top of c. Every problem
 * (syntax, unknown key, wrong type, out of range) is appended to errs
 * (one line each); returns the number of problems. `what` names the source. */
int vsml_train_config_parse(vsml_train_config *c, const char *text, const char *what,
                            char *errs, size_t errs_size);
/* One "key=value" assignment (for --set). */
int vsml_train_config_set(vsml_train_config *c, const char *kv, char *errs, size_t errs_size);
/* Cross-field checks (layers against input_dim/classes, ...); appends problems. */
int vsml_train_config_validate(const vsml_train_config *c, char *errs, size_t errs_size);
/* The resolved configuration as key = value text (malloc'ed). */
char *vsml_train_config_format(const vsml_train_config *c);
/* Hash of every key that changes the trajectory (not steps, eval or bookkeeping). */
uint64_t vsml_train_config_hash(const vsml_train_config *c);
/* How `now` differs from the configuration `was` of a run being resumed in
 * the keys that change the trajectory (those of the hash): returns how many
 * differ and, when any, writes one sentence naming them, both values and
 * the keys that may change to msg. */
int vsml_train_config_resume_diff(const vsml_train_config *was, const vsml_train_config *now,
                                  char *msg, size_t size);
/* The model configuration the training config describes (after validate). */
int vsml_train_model_config(const vsml_train_config *c, vsml_model_config *cfg);

/* ---- the ES estimator and the optimiser (pure host code) ---- */

typedef struct vsml_es_opts {
    float sigma, lr, beta1, beta2, adam_eps, weight_decay, grad_clip;
    bool rank_shaping;
} vsml_es_opts;

/* Centred ranks of n values in [-0.5, 0.5] (ties broken by index). */
int vsml_es_centered_ranks(const float *f, int n, float *out);

/* g = (1/P) sum_j eps_j * (s+_j - s-_j) / (2 sigma), s = fitness or its
 * centred ranks over all 2P values; f_plus/f_minus must be finite. If
 * terms is not NULL it receives the P per-pair weights (s+ - s-)/(2 sigma). */
int vsml_es_gradient(const vsml_es_opts *o, size_t n, uint64_t seed, uint32_t step, int P,
                     const float *f_plus, const float *f_minus, float *g, float *terms);

/* Weight decay, norm clipping, then one Adam step (t = 1-based step count)
 * descending g. Returns the gradient norm before clipping. */
double vsml_es_adam(const vsml_es_opts *o, size_t n, uint64_t t, float *theta, float *m,
                    float *v, float *g);

/* ---- tasks: the data of one ES step ---- */

/* Source datasets for task sampling. Synthetic names (sumsign, random) are
 * generated per task/pair at input_dim; IDX datasets are loaded once. */
typedef struct vsml_task_source {
    int n_sets;
    char names[VSML_MAX_SETS][64];
    vsml_dataset sets[VSML_MAX_SETS]; /* loaded (IDX) or empty (synthetic) */
    int32_t *by_class[VSML_MAX_SETS];   /* example indices sorted by class */
    int32_t *class_start[VSML_MAX_SETS]; /* [n_classes + 1] offsets into by_class */
} vsml_task_source;

/* resize > 0: images of loaded datasets are resized (bilinear) to resize x resize. */
int vsml_task_source_open(vsml_task_source *src, const char *names, const char *data_dir,
                          bool test_split, int classes, int resize);
void vsml_task_source_free(vsml_task_source *src);

typedef struct vsml_task_spec {
    int input_dim, classes, T;
    int streams, streams_per_task;
    bool project, permute_labels;
} vsml_task_spec;

/* Fills the example table x (at most vsml_tasks_max_rows rows of
 * input_dim; *rows, if not NULL, receives the rows used) and stream
 * [streams][T][2] (example row, label) for step `step`: the examples and
 * labels are a pure function of (seed, step, stream). A task draws from a
 * data set; Random tasks without projection store their 20 images once and
 * their streams point at them, other tasks a row per stream and step. */
int vsml_tasks_build(const vsml_task_source *src, const vsml_task_spec *spec, uint64_t seed,
                     uint32_t step, float *x, int32_t *stream, int *rows);

/* Streams [j_begin, j_end) only, with the examples and labels of those
 * streams in the full build; the table and stream [0..] are this range's. */
int vsml_tasks_build_range(const vsml_task_source *src, const vsml_task_spec *sp,
                           uint64_t seed, uint32_t step, int j_begin, int j_end, float *x,
                           int32_t *stream, int *rows);

/* The most rows a build of streams [j_begin, j_end) can use, whatever data
 * sets its tasks draw (at most (j_end - j_begin) * T). */
int vsml_tasks_max_rows(const vsml_task_source *src, const vsml_task_spec *sp, int j_begin,
                        int j_end);
/* ---- the trainer ---- */

typedef struct vsml_trainer vsml_trainer;

typedef struct vsml_step_info {
    uint32_t step;
    double fitness_mean, fitness_std, grad_norm, step_s, episodes_per_s;
    double run_s; /* of step_s: the population run on the device */
    int nonfinite_pairs; /* pairs with a non-finite fitness */
    int first_bad_pair;  /* -1 when none */
    bool updated;        /* false when the update was skipped */
    double comm_s;       /* of step_s: inside the fitness exchange (scale-out) */
} vsml_step_info;

typedef struct vsml_eval_info {
    double accuracy, loss; /* online accuracy and mean loss over the episodes */
} vsml_eval_info;

/* theta0 (param_count floats) is copied; Adam moments start at zero. */
int vsml_trainer_create(vsml_engine *eng, const vsml_train_config *c, const float *theta0,
                        vsml_trainer **out);
/* Scale-out (several processes, e.g. MPI ranks): this trainer runs only
 * pairs [pair_begin, pair_end) on its device. Every pair's noise, data and
 * initial state depend only on (seed, step, pair), so a pair gives the same
 * fitness wherever it runs. After the run, exchange() receives this share's
 * 2 * (pair_end - pair_begin) fitness values (pair-major, + then -; NaN for a
 * member that went non-finite) and must fill all[2 * pairs] with every
 * share's values in pair order (MPI_Allgatherv); every process then applies
 * the same update with the same code as a single process, so the result
 * does not depend on how the pairs are shared. Returns 0 or -1 (after
 * logging). no_eval: this process never calls vsml_trainer_eval (no
 * held-out episodes are built). */
typedef int (*vsml_fitness_exchange_fn)(void *user, const float *mine, int n_mine, float *all,
                                        int n_all);
typedef struct vsml_trainer_share {
    int pair_begin, pair_end; /* both 0: every pair */
    bool no_eval;
    vsml_fitness_exchange_fn exchange; /* NULL only when the share is every pair */
    void *user;
} vsml_trainer_share;
int vsml_trainer_create_share(vsml_engine *eng, const vsml_train_config *c,
                              const float *theta0, const vsml_trainer_share *share,
                              vsml_trainer **out);
void vsml_trainer_destroy(vsml_trainer **tr);
size_t vsml_trainer_param_count(const vsml_trainer *tr);
const vsml_model_config *vsml_trainer_model(const vsml_trainer *tr);
/* Views of the state: theta, adam_m, adam_v (param_count floats each). */
float *vsml_trainer_theta(vsml_trainer *tr);
float *vsml_trainer_adam_m(vsml_trainer *tr);
float *vsml_trainer_adam_v(vsml_trainer *tr);
/* Runs ES step `step` (0-based; Adam's count is step + 1). A non-finite
 * fitness (reported with the step and the first pair) or an update that
 * would make theta or Adam's moments non-finite (reported with the step and
 * the parameter) leaves theta, m and v untouched: the step is skipped
 * (on_nonfinite = skip, a warning) or fails (stop, an error). Test hook:
 * VSML_FAULT=nan@J makes pair J's fitness NaN on every step. */
int vsml_trainer_step(vsml_trainer *tr, uint32_t step, vsml_step_info *info);
/* Meta-test of the unperturbed theta on the held-out episodes. */
int vsml_trainer_eval(vsml_trainer *tr, vsml_eval_info *info);

/* ---- the run directory's metrics log ---- */

#define VSML_METRICS_MAX_STEP 1000000000L
/* Keeps, in place, the complete lines (newline-terminated) of text[0, len)
 * that start with {"step":S with S <= step, in order, and drops every other
 * line (later steps of a killed run, a torn last line, garbage). Returns the
 * new length. Never reads past len; text need not be NUL-terminated. */
size_t vsml_metrics_keep_steps(char *text, size_t len, long step);
#endif
