/* The ES trainer: one device population reused by every step, the task
 * data rebuilt on the host each step, the gradient and Adam on the host. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/es.h"
#include "vsml/log.h"
#include "vsml/util.h"

struct vsml_trainer {
    vsml_train_config c;
    vsml_model_config cfg;
    vsml_es_opts es;
    size_t n;
    float *theta, *m, *v, *g;
    vsml_task_source train_src, eval_src;
    vsml_pop *pop, *eval_pop;
    float *x, *ex;          /* data tables: training, evaluation */
    int x_rows;             /* the training table's rows (vsml_tasks_max_rows) */
    int32_t *stream, *estream;
    uint32_t *ep_stream, *ep_init, *eval_ep;
    float *loss_sum, *loss_last, *correct, *nonfinite, *fp, *fm;
    vsml_trainer_share share;
    int pl;                 /* pairs of this share */
    float *mine, *all;      /* fitness exchange: [2 * pl], [2 * pairs] */
    float *keep;            /* theta, m, v before an update [3 * n] */
};

/* "12.5 GiB" or "3.2 TiB" */
static const char *fmt_bytes(double b, char *buf, size_t size)
{
    if (b >= 1024.0 * 1073741824.0)
        snprintf(buf, size, "%.1f TiB", b / (1024.0 * 1073741824.0));
    else if (b >= 1073741824.0)
        snprintf(buf, size, "%.1f GiB", b / 1073741824.0);
    else
        snprintf(buf, size, "%.1f MiB", b / 1048576.0);
    return buf;
}

/* Host bytes of the data tables and streams: a row of input_dim floats and
 * an (example, label) pair per episode step, at most one row per step. */
static double table_bytes(double episodes, double steps, int input_dim)
{
    return episodes * steps * (4.0 * input_dim + 8.0);
}

/* Rejects, before anything is allocated, episodes that the task builder's
 * row counts cannot index or that need more host memory than the machine
 * has, naming the keys to lower. */
static int check_sizes(const vsml_train_config *c, int pl, bool no_eval)
{
    uint64_t mem = vsml_host_memory_bytes();
    double have = mem > 0 ? (double)mem : INFINITY;
    char need_s[32], have_s[32];
    const struct {
        const char *what, *ep, *st;
        int n_ep, n_st;
    } parts[] = {
        {"the training episodes", "pairs", "T", pl, c->T},
        {"the held-out episodes", "eval_episodes", "eval_steps", c->eval_episodes,
         c->eval_steps},
    };
    for (int i = 0; i < (no_eval ? 1 : 2); i++) {
        double rows = (double)parts[i].n_ep * parts[i].n_st;
        double need = table_bytes(parts[i].n_ep, parts[i].n_st, c->input_dim);
        if (rows > INT_MAX) {
            vsml_err("%s (%s = %d x %s = %d) have %.0f steps in all, more than the %d "
                     "the task data can index: lower %s or %s", parts[i].what, parts[i].ep, parts[i].n_ep,
                     parts[i].st, parts[i].n_st, rows, INT_MAX, parts[i].ep, parts[i].st);
            return -1;
        }
        if (need > have) {
            vsml_err("%s (%s = %d x %s = %d x input_dim = %d) need %s of host memory but this "
                     "machine has %s: lower %s or %s", parts[i].what, parts[i].ep,
                     parts[i].n_ep, parts[i].st, parts[i].n_st, c->input_dim,
                     fmt_bytes(need, need_s, sizeof(need_s)),
                     fmt_bytes(have, have_s, sizeof(have_s)), parts[i].ep, parts[i].st);
            return -1;
        }
    }
    return 0;
}

static int alloc_all(vsml_trainer *tr)
{
    const vsml_train_config *c = &tr->c;
    size_t P = (size_t)c->pairs, D = (size_t)c->input_dim, PL = (size_t)tr->pl;
    size_t R = 2 * PL, ER = tr->share.no_eval ? 1 : (size_t)c->eval_episodes;
    char need_s[32];
    tr->x = malloc(4 * (size_t)tr->x_rows * D);
    tr->stream = malloc(8 * PL * c->T);
    if (!tr->x || !tr->stream) {
        vsml_err("out of memory for the training episodes (pairs = %d x T = %d x input_dim = "
                 "%d): %s of host memory", tr->pl, c->T, c->input_dim,
                 fmt_bytes(4.0 * tr->x_rows * D + 8.0 * PL * c->T, need_s, sizeof(need_s)));
        return -1;
    }
    tr->ex = malloc(4 * ER * c->eval_steps * D);
    tr->estream = malloc(8 * ER * c->eval_steps);
    if (!tr->ex || !tr->estream) {
        vsml_err("out of memory for the held-out episodes (eval_episodes = %zu x eval_steps = "
                 "%d x input_dim = %d): %s of host memory", ER, c->eval_steps, c->input_dim,
                 fmt_bytes(table_bytes((double)ER, c->eval_steps, c->input_dim), need_s,
                           sizeof(need_s)));
        return -1;
    }
    tr->theta = calloc(tr->n, 4);
    tr->m = calloc(tr->n, 4);
    tr->v = calloc(tr->n, 4);
    tr->g = calloc(tr->n, 4);
    tr->keep = calloc(3 * tr->n, 4);
    tr->ep_stream = malloc(4 * R);
    tr->ep_init = malloc(4 * R);
    tr->eval_ep = malloc(4 * ER);
    size_t most = R > ER ? R : ER;
    tr->loss_sum = malloc(4 * most);
    tr->loss_last = malloc(4 * most);
    tr->correct = malloc(4 * most);
    tr->nonfinite = malloc(4 * most);
    tr->fp = malloc(4 * P);
    tr->fm = malloc(4 * P);
    tr->mine = malloc(4 * R);
    tr->all = malloc(8 * P);
    if (!tr->mine || !tr->all || !tr->keep || !tr->theta || !tr->m || !tr->v || !tr->g ||
        !tr->ep_stream || !tr->ep_init || !tr->eval_ep || !tr->loss_sum || !tr->loss_last ||
        !tr->correct || !tr->nonfinite || !tr->fp || !tr->fm) {
        vsml_err("out of memory for the trainer (%zu parameters, %d pairs, eval_episodes = %d)",
                 tr->n, c->pairs, c->eval_episodes);
        return -1;
    }
    return 0;
}

/* Both members of pair j see stream j from the same initial state. */
static void pair_episodes(vsml_trainer *tr)
{
    for (int r = 0; r < 2 * tr->pl; r++) {
        tr->ep_stream[r] = (uint32_t)(r / 2);
        tr->ep_init[r] = (uint32_t)(tr->share.pair_begin + r / 2); /* the global pair */
    }
    for (int e = 0; !tr->share.no_eval && e < tr->c.eval_episodes; e++)
        tr->eval_ep[e] = (uint32_t)e;
}

static vsml_task_spec train_spec(const vsml_train_config *c)
{
    return (vsml_task_spec){.input_dim = c->input_dim, .classes = c->classes, .T = c->T,
                            .streams = c->pairs, .streams_per_task = c->pairs_per_task,
                            .project = c->project, .permute_labels = c->permute_labels};
}

static vsml_task_spec eval_spec(const vsml_train_config *c)
{
    return (vsml_task_spec){.input_dim = c->input_dim, .classes = c->classes,
                            .T = c->eval_steps, .streams = c->eval_episodes,
                            .streams_per_task = 1, .project = false, /* the data set itself */
                            .permute_labels = c->permute_labels};
}

/* The held-out episodes never change: build and upload them once. */
static int setup_eval(vsml_trainer *tr, vsml_engine *eng)
{
    const vsml_train_config *c = &tr->c;
    vsml_task_spec sp = eval_spec(c);
    if (vsml_task_source_open(&tr->eval_src, c->eval_dataset, c->data_dir, true, c->classes,
                              c->resize))
        return -1;
    int most = vsml_tasks_max_rows(&tr->eval_src, &sp, 0, c->eval_episodes), rows;
    vsml_pop_shape shape = {.P = 1, .E = c->eval_episodes, .T = c->eval_steps,
                            .n_examples = most, .n_streams = c->eval_episodes, .outputs = 0};
    if (vsml_tasks_build(&tr->eval_src, &sp, c->eval_seed, 0xffffffffu, tr->ex, tr->estream,
                         &rows) ||
        vsml_pop_create(eng, &tr->cfg, &shape, &tr->eval_pop) ||
        vsml_pop_set_data_rows(tr->eval_pop, tr->ex, rows) ||
        vsml_pop_set_episodes(tr->eval_pop, tr->estream, tr->eval_ep, tr->eval_ep))
        return -1;
    return 0;
}

int vsml_trainer_create(vsml_engine *eng, const vsml_train_config *c, const float *theta0,
                        vsml_trainer **out)
{
    vsml_trainer_share all = {0};
    return vsml_trainer_create_share(eng, c, theta0, &all, out);
}

int vsml_trainer_create_share(vsml_engine *eng, const vsml_train_config *c,
                              const float *theta0, const vsml_trainer_share *share,
                              vsml_trainer **out)
{
    *out = NULL;
    vsml_trainer_share sh = *share;
    if (sh.pair_begin == 0 && sh.pair_end == 0)
        sh.pair_end = c->pairs;
    if (sh.pair_begin < 0 || sh.pair_end > c->pairs || sh.pair_begin >= sh.pair_end ||
        (!sh.exchange && sh.pair_end - sh.pair_begin != c->pairs)) {
        vsml_err("trainer share: pairs [%d, %d) of %d%s", sh.pair_begin, sh.pair_end, c->pairs,
                 sh.exchange ? "" : " without a fitness exchange");
        return -1;
    }
    if (check_sizes(c, sh.pair_end - sh.pair_begin, sh.no_eval) != 0)
        return -1;
    vsml_trainer *tr = calloc(1, sizeof(*tr));
    if (!tr) {
        vsml_err("out of memory for the trainer");
        return -1;
    }
    tr->c = *c;
    tr->share = sh;
    tr->pl = sh.pair_end - sh.pair_begin;
    tr->es = (vsml_es_opts){.sigma = c->sigma, .lr = c->lr, .beta1 = 0.9f, .beta2 = 0.999f,
                            .adam_eps = 1e-8f, .weight_decay = c->weight_decay,
                            .grad_clip = c->grad_clip, .rank_shaping = c->rank_shaping};
    if (vsml_train_model_config(c, &tr->cfg) != 0)
        goto fail;
    tr->n = vsml_param_count(&tr->cfg);
    if (vsml_task_source_open(&tr->train_src, c->dataset, c->data_dir, false, c->classes,
                              c->resize) != 0)
        goto fail;
    vsml_task_spec sp = train_spec(c);
    tr->x_rows = vsml_tasks_max_rows(&tr->train_src, &sp, sh.pair_begin, sh.pair_end);
    if (alloc_all(tr) != 0)
        goto fail;
    memcpy(tr->theta, theta0, 4 * tr->n);
    pair_episodes(tr);
    vsml_pop_shape shape = {.P = 2 * tr->pl, .E = 1, .T = c->T, .n_examples = tr->x_rows,
                            .n_streams = tr->pl};
    if (vsml_pop_create(eng, &tr->cfg, &shape, &tr->pop) ||
        vsml_pop_set_episodes(tr->pop, tr->stream, tr->ep_stream, tr->ep_init))
        goto fail;
    if (!sh.no_eval && setup_eval(tr, eng) != 0)
        goto fail;
    *out = tr;
    return 0;
fail:
    vsml_trainer_destroy(&tr);
    return -1;
}

void vsml_trainer_destroy(vsml_trainer **ptr)
{
    vsml_trainer *tr = *ptr;
    if (!tr)
        return;
    vsml_pop_destroy(&tr->pop);
    vsml_pop_destroy(&tr->eval_pop);
    vsml_task_source_free(&tr->train_src);
    vsml_task_source_free(&tr->eval_src);
    float *fl[] = {tr->theta, tr->m, tr->v, tr->g, tr->x, tr->ex, tr->loss_sum, tr->loss_last,
                   tr->correct, tr->nonfinite, tr->fp, tr->fm, tr->mine, tr->all,
                   tr->keep};
    for (size_t i = 0; i < VSML_ARRAY_SIZE(fl); i++)
        free(fl[i]);
    free(tr->stream);
    free(tr->estream);
    free(tr->ep_stream);
    free(tr->ep_init);
    free(tr->eval_ep);
    free(tr);
    *ptr = NULL;
}

size_t vsml_trainer_param_count(const vsml_trainer *tr) { return tr->n; }
const vsml_model_config *vsml_trainer_model(const vsml_trainer *tr) { return &tr->cfg; }
float *vsml_trainer_theta(vsml_trainer *tr) { return tr->theta; }
float *vsml_trainer_adam_m(vsml_trainer *tr) { return tr->m; }
float *vsml_trainer_adam_v(vsml_trainer *tr) { return tr->v; }

/* The initial-state seed of a step's episodes. */
static uint64_t init_seed(uint64_t seed, uint32_t step)
{
    uint32_t v[2] = {step, 0x494e4954u};
    return vsml_fnv1a(v, sizeof(v), seed * 0x9e3779b97f4a7c15ull + 1);
}

static int run_population(vsml_trainer *tr, uint32_t step, double *run_s)
{
    const vsml_train_config *c = &tr->c;
    vsml_task_spec sp = train_spec(c);
    vsml_rollout_out out = {.loss_sum = tr->loss_sum, .loss_last = tr->loss_last,
                            .nonfinite = tr->nonfinite};
    vsml_run_stats st = {0};
    int rows;
    if (vsml_tasks_build_range(&tr->train_src, &sp, c->seed, step, tr->share.pair_begin,
                               tr->share.pair_end, tr->x, tr->stream, &rows) ||
        vsml_pop_set_data_rows(tr->pop, tr->x, rows) ||
        vsml_pop_set_episodes(tr->pop, tr->stream, tr->ep_stream, tr->ep_init) ||
        vsml_pop_set_es_params(tr->pop, tr->theta, c->sigma, c->seed, step,
                               (uint32_t)tr->share.pair_begin) ||
        vsml_pop_run(tr->pop, init_seed(c->seed, step), 0, c->T, true, &st) ||
        vsml_pop_read(tr->pop, &out))
        return -1;
    *run_s = st.wall_s;
    return 0;
}

/* This share's fitness per pair member (NaN for a member that went
 * non-finite on the device), then every share's through the exchange. */
static int gather_fitness(vsml_trainer *tr, vsml_step_info *info)
{
    for (int r = 0; r < 2 * tr->pl; r++) {
        float f = vsml_fitness(&tr->cfg, tr->loss_sum[r], tr->loss_last[r], tr->c.T);
        tr->mine[r] = tr->nonfinite[r] != 0.0f ? NAN : f;
    }
    /* test hook: VSML_FAULT=nan@J makes pair J's + member non-finite */
    const char *f = getenv("VSML_FAULT");
    if (f && !strncmp(f, "nan@", 4)) {
        long j = strtol(f + 4, NULL, 10);
        if (j >= tr->share.pair_begin && j < tr->share.pair_end)
            tr->mine[2 * (j - tr->share.pair_begin)] = NAN;
    }
    if (!tr->share.exchange) {
        memcpy(tr->all, tr->mine, sizeof(float) * 2 * (size_t)tr->pl);
        return 0;
    }
    double t0 = vsml_now();
    int rc = tr->share.exchange(tr->share.user, tr->mine, 2 * tr->pl, tr->all, 2 * tr->c.pairs);
    info->comm_s = vsml_now() - t0;
    return rc;
}

/* Fitness per pair member; counts the pairs with a non-finite value. */
static int collect_fitness(vsml_trainer *tr, vsml_step_info *info)
{
    double s = 0, s2 = 0;
    int n = 0;
    info->nonfinite_pairs = 0;
    info->first_bad_pair = -1;
    for (int j = 0; j < tr->c.pairs; j++) {
        float f[2];
        bool bad = false;
        for (int h = 0; h < 2; h++) {
            f[h] = tr->all[2 * j + h];
            bad |= !isfinite(f[h]);
        }
        tr->fp[j] = f[0];
        tr->fm[j] = f[1];
        if (bad) {
            if (info->first_bad_pair < 0)
                info->first_bad_pair = j;
            info->nonfinite_pairs++;
            continue;
        }
        s += (double)f[0] + f[1];
        s2 += (double)f[0] * f[0] + (double)f[1] * f[1];
        n += 2;
    }
    info->fitness_mean = n ? s / n : NAN;
    info->fitness_std = n ? sqrt(fmax(0.0, s2 / n - info->fitness_mean * info->fitness_mean))
                          : NAN;
    return info->nonfinite_pairs;
}

static size_t first_nonfinite(const vsml_trainer *tr)
{
    for (size_t i = 0; i < tr->n; i++)
        if (!isfinite(tr->theta[i]) || !isfinite(tr->m[i]) || !isfinite(tr->v[i]))
            return i;
    return tr->n;
}

int vsml_trainer_step(vsml_trainer *tr, uint32_t step, vsml_step_info *info)
{
    double t0 = vsml_now();
    memset(info, 0, sizeof(*info));
    info->step = step;
    if (run_population(tr, step, &info->run_s) != 0 || gather_fitness(tr, info) != 0)
        return -1;
    if (collect_fitness(tr, info) > 0) {
        if (!strcmp(tr->c.on_nonfinite, "stop")) {
            vsml_err("step %u: non-finite fitness in %d pair(s), first pair %d; stopping "
                     "(on_nonfinite = stop)", step, info->nonfinite_pairs, info->first_bad_pair);
            return -1;
        }
        vsml_warn("step %u: non-finite fitness in %d pair(s), first pair %d; update skipped",
                  step, info->nonfinite_pairs, info->first_bad_pair);
    } else {
        if (vsml_es_gradient(&tr->es, tr->n, tr->c.seed, step, tr->c.pairs, tr->fp, tr->fm,
                             tr->g, NULL) != 0)
            return -1;
        /* keep the old state until the update is known to be finite */
        memcpy(tr->keep, tr->theta, 4 * tr->n);
        memcpy(tr->keep + tr->n, tr->m, 4 * tr->n);
        memcpy(tr->keep + 2 * tr->n, tr->v, 4 * tr->n);
        info->grad_norm = vsml_es_adam(&tr->es, tr->n, (uint64_t)step + 1, tr->theta, tr->m,
                                       tr->v, tr->g);
        size_t bad = first_nonfinite(tr);
        if (bad < tr->n) {
            memcpy(tr->theta, tr->keep, 4 * tr->n);
            memcpy(tr->m, tr->keep + tr->n, 4 * tr->n);
            memcpy(tr->v, tr->keep + 2 * tr->n, 4 * tr->n);
            if (!strcmp(tr->c.on_nonfinite, "stop")) {
                vsml_err("step %u: the update made parameter %zu (or its Adam moments) "
                         "non-finite; stopping (on_nonfinite = stop)", step, bad);
                return -1;
            }
            vsml_warn("step %u: the update made parameter %zu (or its Adam moments) "
                      "non-finite; update skipped", step, bad);
        } else {
            info->updated = true;
        }
    }
    info->step_s = vsml_now() - t0;
    info->episodes_per_s = 2.0 * tr->c.pairs / info->step_s;
    return 0;
}

int vsml_trainer_eval(vsml_trainer *tr, vsml_eval_info *info)
{
    const vsml_train_config *c = &tr->c;
    int ER = c->eval_episodes, T = c->eval_steps;
    if (tr->share.no_eval) {
        vsml_err("this trainer was created without the held-out episodes (no_eval)");
        return -1;
    }
    vsml_rollout_out out = {.loss_sum = tr->loss_sum, .correct = tr->correct};
    if (vsml_pop_set_params(tr->eval_pop, tr->theta) ||
        vsml_pop_run(tr->eval_pop, init_seed(c->eval_seed, 0xffffffffu), 0, T, true, NULL) ||
        vsml_pop_read(tr->eval_pop, &out))
        return -1;
    double acc = 0, loss = 0;
    for (int e = 0; e < ER; e++) {
        acc += tr->correct[e] / T;
        loss += tr->loss_sum[e] / T;
    }
    info->accuracy = acc / ER;
    info->loss = loss / ER;
    return 0;
}
