/* Bench workloads: rollouts of a population and full ES steps. Each is run
 * first on a check slice whose device results are compared with the CPU
 * reference (a wrong fast kernel fails the benchmark), then timed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/bench.h"
#include "vsml/log.h"
#include "vsml/ref.h"
#include "vsml/rng.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

#define EW_OPS 60.0 /* element-wise operations per sub-LSTM micro tick (spec 10) */

void vsml_bench_rollout_cost(const vsml_model_config *cfg, double episodes, double steps,
                             vsml_bench_cost *out)
{
    const double N = vsml_state_size(cfg), M = VSML_M, G = 4 * N, m = cfg->micro_ticks;
    double sweeps = cfg->backward_pass ? 2.0 : 1.0, rt = episodes * steps;
    memset(out, 0, sizeof(*out));
    for (int k = 0; k < cfg->n_layers; k++) {
        double A = cfg->sizes[k], B = cfg->sizes[k + 1], AB = A * B;
        out->updates += rt * sweeps * m * AB;
        out->flop_model += rt * sweeps * AB * (m * (2 * (2 * M + N) * G + EW_OPS) + 4 * N * M);
        out->flop_exec += rt * sweeps *
                          (AB * (m * (2 * N * G + EW_OPS) + 2 * N) + (A + B) * (2 * M * G + 2 * N * M));
        out->bytes += rt * sweeps * AB * 2 * N * (cfg->state_f16 ? 2 : 4) * 2;
    }
    out->bytes += rt * (cfg->sizes[0] + cfg->sizes[cfg->n_layers]) * 4.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

vsml_bench_stat vsml_bench_stats(const double *v, int n)
{
    double s[VSML_BENCH_MAX_REPS];
    vsml_bench_stat st = {0};
    if (n < 1 || n > VSML_BENCH_MAX_REPS)
        return st;
    memcpy(s, v, sizeof(double) * n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    st.min = s[0];
    st.max = s[n - 1];
    st.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    return st;
}

static bool inject_error(void)
{
    const char *e = getenv("VSML_BENCH_INJECT_ERROR");
    return e && *e && strcmp(e, "0") != 0;
}

/* The shared input of a workload: x, streams, episode tables, parameters. */
typedef struct wl_data {
    int P, E, T, R, n_ex, D, C;
    size_t np;
    float *x, *params;
    int32_t *stream; /* [R][T][2] */
    uint32_t *ep_stream, *ep_init;
} wl_data;

static void wl_free(wl_data *w)
{
    free(w->x);
    free(w->params);
    free(w->stream);
    free(w->ep_stream);
    free(w->ep_init);
    memset(w, 0, sizeof(*w));
}

int vsml_bench_rollout_check(const vsml_model_config *cfg, const char *name, int P, int E, int T)
{
    double R = (double)P * E, rt = R * T, n_ex = rt < 4096 ? rt : 4096;
    double C = cfg->sizes[cfg->n_layers];
    double need = 4.0 * ((double)P * (double)vsml_param_count(cfg) + n_ex * cfg->sizes[0] +
                         2 * rt + 2 * R + rt * C);
    double have = (double)vsml_host_memory_bytes();
    if (have > 0 && need > 0.75 * have) {
        vsml_err("workload %s (%.0f episodes x %d steps) needs %.1f GiB of host memory for its "
                 "parameters, data and logits; this machine has %.1f GiB: use a smaller --pop",
                 name, R, T, need / 1073741824.0, have / 1073741824.0);
        return -1;
    }
    return 0;
}

/* Examples N(0, 1), labels uniform (spec section 7's Random dataset); episode
 * r reads stream r; parameter vector p = theta + 0.05 * noise (an ES
 * population around fresh parameters). */
static int wl_make(wl_data *w, const vsml_model_config *cfg, int P, int E, int T, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->P = P;
    w->E = E;
    w->T = T;
    w->R = P * E;
    w->D = cfg->sizes[0];
    w->C = cfg->sizes[cfg->n_layers];
    long long rt = (long long)w->R * T;
    w->n_ex = (int)(rt < 4096 ? rt : 4096);
    w->np = vsml_param_count(cfg);
    w->x = malloc(sizeof(float) * (size_t)w->n_ex * w->D);
    w->params = malloc(sizeof(float) * (size_t)P * w->np);
    w->stream = malloc(sizeof(int32_t) * (size_t)rt * 2);
    w->ep_stream = malloc(sizeof(uint32_t) * (size_t)w->R);
    w->ep_init = malloc(sizeof(uint32_t) * (size_t)w->R);
    if (!w->x || !w->params || !w->stream || !w->ep_stream || !w->ep_init) {
        vsml_err("out of memory for a bench workload (%d episodes x %d steps)", w->R, T);
        wl_free(w);
        return -1;
    }
    vsml_rng r;
    vsml_rng_init(&r, seed, 0, VSML_TAG_DATA);
    for (size_t i = 0; i < (size_t)w->n_ex * w->D; i++)
        w->x[i] = (float)vsml_rng_normal(&r);
    for (long long i = 0; i < rt; i++) {
        w->stream[2 * i] = (int32_t)vsml_rng_below(&r, (uint32_t)w->n_ex);
        w->stream[2 * i + 1] = (int32_t)vsml_rng_below(&r, (uint32_t)w->C);
    }
    for (int i = 0; i < w->R; i++) {
        w->ep_stream[i] = (uint32_t)i;
        w->ep_init[i] = (uint32_t)i;
    }
    vsml_params_init(cfg, seed, w->params);
    for (int p = 1; p < P; p++)
        for (size_t i = 0; i < w->np; i++)
            w->params[(size_t)p * w->np + i] =
                w->params[i] + 0.05f * (float)vsml_rng_normal(&r);
    return 0;
}

/* Episodes sel[0..n) of a rollout whose first T steps are compared. */
static int pick_episodes(int R, int *sel)
{
    int n = 0, cand[3] = {0, R / 2, R - 1};
    for (int i = 0; i < 3; i++) {
        bool dup = false;
        for (int j = 0; j < n; j++)
            dup |= sel[j] == cand[i];
        if (!dup)
            sel[n++] = cand[i];
    }
    return n;
}

/* Runs the reference on episodes sel of w (first T steps; episode r uses
 * vector r / E of vec_params) and compares with the device logits
 * dev [R][Tfull][C]. Returns the max relative error or -1 on failure. */
static double check_against_ref(const vsml_model_config *cfg, const wl_data *w,
                                const float *vec_params, int T, const float *dev, int Tfull,
                                uint64_t seed, int *n_checked)
{
    int sel[3], n = pick_episodes(w->R, sel);
    size_t C = (size_t)w->C;
    float *params = malloc(sizeof(float) * n * w->np);
    int32_t *stream = malloc(sizeof(int32_t) * (size_t)n * T * 2);
    uint32_t *es = malloc(sizeof(uint32_t) * n), *ei = malloc(sizeof(uint32_t) * n);
    float *ref = malloc(sizeof(float) * (size_t)n * T * C);
    float *got = malloc(sizeof(float) * (size_t)n * T * C);
    double err = -1;
    if (!params || !stream || !es || !ei || !ref || !got) {
        vsml_err("out of memory for the bench's check");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int r = sel[i];
        memcpy(params + (size_t)i * w->np, vec_params + (size_t)(r / w->E) * w->np,
               sizeof(float) * w->np);
        memcpy(stream + (size_t)i * T * 2, w->stream + (size_t)w->ep_stream[r] * w->T * 2,
               sizeof(int32_t) * (size_t)T * 2);
        es[i] = (uint32_t)i;
        ei[i] = w->ep_init[r];
        memcpy(got + (size_t)i * T * C, dev + (size_t)r * Tfull * C, sizeof(float) * T * C);
    }
    vsml_episodes ep = {.P = n, .E = 1, .T = T, .x = w->x, .n_examples = w->n_ex,
                        .n_streams = n, .stream = stream, .ep_stream = es, .ep_init = ei,
                        .seed = seed};
    vsml_rollout_out out = {.logits = ref};
    if (vsml_ref_rollout(cfg, params, &ep, &out) != 0)
        goto out;
    err = vsml_max_rel_diff(got, ref, (size_t)n * T * C);
    *n_checked = n;
out:
    free(params);
    free(stream);
    free(es);
    free(ei);
    free(ref);
    free(got);
    return err;
}

static void perturb_for_test(float *logits, size_t n)
{
    if (inject_error() && n > 0) {
        vsml_warn("VSML_BENCH_INJECT_ERROR: perturbing one device logit before the check");
        logits[n - 1] += 0.01f * (1.0f + fabsf(logits[n - 1]));
    }
}

static int gate(const char *name, double err, int n_ep, int T, vsml_bench_result *res)
{
    double tol = res->state_bits == 16 ? VSML_BENCH_TOL_F16 : VSML_BENCH_TOL;
    res->check_err = err;
    res->check_episodes = n_ep;
    res->check_steps = T;
    res->check_tol = tol;
    if (err < 0)
        return -1;
    if (!(err <= tol)) {
        vsml_err("workload %s: the device disagrees with the CPU reference (max relative logit "
                 "error %.3g > %.0e on %d episode(s) x %d step(s)): not timing a wrong kernel",
                 name, err, tol, n_ep, T);
        return -1;
    }
    return 0;
}

static int write_workload(const char *path, const vsml_model_config *cfg, const wl_data *w,
                          int check_steps)
{
    char layers[64] = "", ticks[16], fl[8], clip[32], pl[8], P[16], E[16], T[16], cs[16];
    for (int k = 0; k <= cfg->n_layers; k++)
        snprintf(layers + strlen(layers), sizeof(layers) - strlen(layers), "%s%d",
                 k ? "," : "", cfg->sizes[k]);
    snprintf(ticks, sizeof(ticks), "%d", cfg->micro_ticks);
    snprintf(fl, sizeof(fl), "%d", cfg->feed_label ? 1 : 0);
    snprintf(clip, sizeof(clip), "%.9g", cfg->clip_state);
    snprintf(pl, sizeof(pl), "%d", cfg->per_layer_params ? 1 : 0);
    snprintf(P, sizeof(P), "%d", w->P);
    snprintf(E, sizeof(E), "%d", w->E);
    snprintf(T, sizeof(T), "%d", w->T);
    snprintf(cs, sizeof(cs), "%d", check_steps);
    vsml_tensor ts[3] = {
        {.name = "params", .dtype = VSML_F32, .ndim = 2, .shape = {w->P, (int64_t)w->np},
         .data = w->params, .nbytes = sizeof(float) * w->P * w->np},
        {.name = "x", .dtype = VSML_F32, .ndim = 2, .shape = {w->n_ex, w->D}, .data = w->x,
         .nbytes = sizeof(float) * (size_t)w->n_ex * w->D},
        {.name = "stream", .dtype = VSML_I32, .ndim = 3, .shape = {w->R, w->T, 2},
         .data = w->stream, .nbytes = sizeof(int32_t) * (size_t)w->R * w->T * 2},
    };
    vsml_st_meta meta[] = {{"format", "vsml-bench-workload-1"}, {"layers", layers},
                           {"micro_ticks", ticks}, {"feed_label", fl}, {"clip_state", clip},
                           {"per_layer_params", pl}, {"init", "zeros"}, {"P", P}, {"E", E},
                           {"T", T}, {"check_steps", cs}};
    return vsml_st_write(path, ts, 3, meta, (int)VSML_ARRAY_SIZE(meta));
}

static void layers_str(const vsml_model_config *cfg, char *s, size_t n)
{
    s[0] = 0;
    for (int k = 0; k <= cfg->n_layers; k++)
        snprintf(s + strlen(s), n - strlen(s), "%s%d", k ? "-" : "", cfg->sizes[k]);
}

int vsml_bench_rollout(vsml_engine *eng, const vsml_bench_rollout_spec *spec,
                       vsml_bench_result *res, float **check_logits)
{
    const vsml_model_config *cfg = &spec->cfg;
    memset(res, 0, sizeof(*res));
    if (check_logits)
        *check_logits = NULL;
    snprintf(res->name, sizeof(res->name), "%s", spec->name);
    res->kind = VSML_BENCH_ROLLOUT;
    layers_str(cfg, res->layers, sizeof(res->layers));
    res->P = spec->P;
    res->E = spec->E;
    res->T = spec->T;
    res->micro_ticks = cfg->micro_ticks;
    res->state_bits = cfg->state_f16 ? 16 : 32;
    res->reps = spec->reps;
    if (spec->reps < 1 || spec->reps > VSML_BENCH_MAX_REPS || spec->check_steps < 1 ||
        spec->check_steps > spec->T) {
        vsml_err("workload %s: bad repetitions or check steps", spec->name);
        return -1;
    }
    if (cfg->backward_pass && spec->workload_file) {
        vsml_err("workload %s: the peer does not implement backward_pass", spec->name);
        return -1;
    }
    /* the device's limits first (the population), then the host's inputs:
     * an absurd size is an error before anything large is made */
    wl_data w;
    memset(&w, 0, sizeof(w));
    vsml_pop *pop = NULL;
    long long rt = (long long)spec->P * spec->E * spec->T;
    vsml_pop_shape shape = {.P = spec->P, .E = spec->E, .T = spec->T,
                            .n_examples = (int)(rt < 4096 ? rt : 4096),
                            .n_streams = spec->P * spec->E, .outputs = VSML_POP_LOGITS};
    if (vsml_bench_rollout_check(cfg, spec->name, spec->P, spec->E, spec->T) != 0 ||
        vsml_pop_create(eng, cfg, &shape, &pop) != 0)
        return -1;
    if (wl_make(&w, cfg, spec->P, spec->E, spec->T, spec->seed) != 0) {
        vsml_pop_destroy(&pop);
        return -1;
    }
    int rc = -1, Tc = spec->check_steps;
    size_t C = (size_t)w.C;
    float *logits = malloc(sizeof(float) * (size_t)w.R * w.T * C);
    if (!logits) {
        vsml_err("out of memory for the logits of workload %s", spec->name);
        goto out;
    }
    if (vsml_pop_set_params(pop, w.params) || vsml_pop_set_data(pop, w.x) ||
        vsml_pop_set_episodes(pop, w.stream, w.ep_stream, w.ep_init))
        goto out;
    res->have_plan = true;
    vsml_pop_plan(pop, &res->plan);
    /* the check slice: same population, same pipeline, the first Tc steps */
    vsml_rollout_out o = {.logits = logits};
    memset(logits, 0, sizeof(float) * (size_t)w.R * w.T * C);
    if (vsml_pop_run(pop, 0, 0, Tc, true, NULL) || vsml_pop_read(pop, &o))
        goto out;
    perturb_for_test(logits, (size_t)w.T * C * (size_t)(w.R - 1) + (size_t)Tc * C);
    int n_ep = 0;
    double err = check_against_ref(cfg, &w, w.params, Tc, logits, w.T, 0, &n_ep);
    if (gate(spec->name, err, n_ep, Tc, res) != 0)
        goto out;
    double wall[VSML_BENCH_MAX_REPS], dev[VSML_BENCH_MAX_REPS];
    for (int r = 0; r < spec->reps; r++) {
        vsml_run_stats st;
        if (vsml_pop_run(pop, 0, 0, w.T, true, &st) != 0)
            goto out;
        wall[r] = st.wall_s;
        dev[r] = st.device_s;
        res->dispatches = st.dispatches;
    }
    res->wall = vsml_bench_stats(wall, spec->reps);
    res->device = vsml_bench_stats(dev, spec->reps);
    vsml_bench_rollout_cost(cfg, w.R, w.T, &res->cost);
    if (spec->workload_file) {
        if (write_workload(spec->workload_file, cfg, &w, Tc) != 0)
            goto out;
        float *cl = malloc(sizeof(float) * (size_t)w.R * Tc * C);
        if (!cl) {
            vsml_err("out of memory");
            goto out;
        }
        for (int r = 0; r < w.R; r++)
            memcpy(cl + (size_t)r * Tc * C, logits + (size_t)r * w.T * C, sizeof(float) * Tc * C);
        *check_logits = cl;
    }
    rc = 0;
out:
    vsml_pop_destroy(&pop);
    free(logits);
    wl_free(&w);
    return rc;
}

/* The gate of an ES step: the trainer's population shape (2 * pairs vectors
 * written by the device's perturbation kernel) on check_steps steps. */
static int es_check(vsml_engine *eng, const char *name, const vsml_train_config *c,
                    const vsml_model_config *cfg, const float *theta, int Tc,
                    vsml_bench_result *res)
{
    wl_data w;
    if (wl_make(&w, cfg, 2 * c->pairs, 1, Tc, c->seed) != 0)
        return -1;
    int rc = -1;
    size_t C = (size_t)w.C;
    vsml_pop *pop = NULL;
    float *logits = malloc(sizeof(float) * (size_t)w.R * Tc * C);
    float *vecs = malloc(sizeof(float) * (size_t)w.R * w.np);
    if (!logits || !vecs) {
        vsml_err("out of memory for the check of workload %s", name);
        goto out;
    }
    /* both members of a pair read the same stream from the same state */
    for (int r = 0; r < w.R; r++) {
        w.ep_stream[r] = (uint32_t)(r / 2);
        w.ep_init[r] = (uint32_t)(r / 2);
    }
    vsml_pop_shape shape = {.P = w.R, .E = 1, .T = Tc, .n_examples = w.n_ex, .n_streams = w.R,
                            .outputs = VSML_POP_LOGITS};
    vsml_rollout_out o = {.logits = logits};
    if (vsml_pop_create(eng, cfg, &shape, &pop) || vsml_pop_set_data(pop, w.x) ||
        vsml_pop_set_episodes(pop, w.stream, w.ep_stream, w.ep_init) ||
        vsml_pop_set_es_params(pop, theta, c->sigma, c->seed, 0, 0) ||
        vsml_pop_run(pop, c->seed, 0, Tc, true, NULL) || vsml_pop_read(pop, &o))
        goto out;
    perturb_for_test(logits, (size_t)w.R * Tc * C);
    /* the host's copy of the perturbed vectors (spec section 6) */
    for (int r = 0; r < w.R; r++)
        for (size_t i = 0; i < w.np; i++) {
            float eps = vsml_es_noise(c->seed, 0, (uint32_t)(r / 2), (uint32_t)i);
            vecs[(size_t)r * w.np + i] = theta[i] + (r % 2 ? -c->sigma : c->sigma) * eps;
        }
    int n_ep = 0;
    double err = check_against_ref(cfg, &w, vecs, Tc, logits, Tc, c->seed, &n_ep);
    rc = gate(name, err, n_ep, Tc, res);
out:
    vsml_pop_destroy(&pop);
    free(logits);
    free(vecs);
    wl_free(&w);
    return rc;
}

int vsml_bench_es_step(vsml_engine *eng, const char *name, const vsml_train_config *c,
                       int reps, int check_steps, vsml_bench_result *res)
{
    memset(res, 0, sizeof(*res));
    snprintf(res->name, sizeof(res->name), "%s", name);
    res->kind = VSML_BENCH_ES_STEP;
    res->P = 2 * c->pairs;
    res->E = 1;
    res->T = c->T;
    res->micro_ticks = c->micro_ticks;
    res->state_bits = c->state_f16 ? 16 : 32;
    res->reps = reps;
    vsml_model_config cfg;
    if (reps < 1 || reps > VSML_BENCH_MAX_REPS || check_steps < 1 || check_steps > c->T) {
        vsml_err("workload %s: bad repetitions or check steps", name);
        return -1;
    }
    if (vsml_train_model_config(c, &cfg) != 0)
        return -1;
    layers_str(&cfg, res->layers, sizeof(res->layers));
    size_t n = vsml_param_count(&cfg);
    float *theta = malloc(sizeof(float) * n);
    if (!theta) {
        vsml_err("out of memory");
        return -1;
    }
    vsml_params_init(&cfg, c->seed, theta);
    int rc = -1;
    vsml_trainer *tr = NULL;
    if (es_check(eng, name, c, &cfg, theta, check_steps, res) != 0 ||
        vsml_trainer_create(eng, c, theta, &tr) != 0)
        goto out;
    double wall[VSML_BENCH_MAX_REPS], run[VSML_BENCH_MAX_REPS];
    vsml_step_info info;
    if (vsml_trainer_step(tr, 0, &info) != 0) /* warm-up: first uploads, pipelines */
        goto out;
    for (int r = 0; r < reps; r++) {
        if (vsml_trainer_step(tr, (uint32_t)r + 1, &info) != 0)
            goto out;
        wall[r] = info.step_s;
        run[r] = info.run_s;
    }
    res->wall = vsml_bench_stats(wall, reps);
    res->rollout = vsml_bench_stats(run, reps);
    vsml_bench_rollout_cost(&cfg, 2.0 * c->pairs, c->T, &res->cost);
    rc = 0;
out:
    vsml_trainer_destroy(&tr);
    free(theta);
    return rc;
}
