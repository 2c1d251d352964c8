/* The data of one ES step: a mix of tasks (spec section 7 augmentations).
 *
 * Streams are grouped into tasks of streams_per_task. A task picks a source
 * dataset, a class subset with permuted labels and a random projection; each
 * stream then draws its own T examples from that task. Sum Sign and Random
 * are generated afresh (Sum Sign per stream, Random per task). Every draw
 * comes from a generator keyed by (seed, step) and numbered by task or
 * stream, so the data of a step depends on nothing else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/datasets.h"
#include "vsml/es.h"
#include "vsml/log.h"
#include "vsml/rng.h"
#include "vsml/util.h"

#define TASK_STREAM 0x80000000u
#define PROJ_STREAM 0x40000000u /* a task slot's projection (streams j < 2^30) */
#define RANDOM_IMAGES 20 /* the images of a Random task (spec section 7) */

static bool is_synthetic(const char *name)
{
    return !strcmp(name, "sumsign") || !strcmp(name, "random");
}

static uint64_t step_key(uint64_t seed, uint32_t step, uint32_t id, uint32_t kind)
{
    uint32_t v[4] = {step, id, kind, 0x5653u};
    return vsml_fnv1a(v, sizeof(v), vsml_fnv1a(&seed, sizeof(seed), 14695981039346656037ull));
}

static void step_rng(vsml_rng *r, uint64_t seed, uint32_t step, uint32_t stream)
{
    vsml_rng_init(r, step_key(seed, step, 0, 0), stream, VSML_TAG_DATA);
}

static int index_classes(vsml_task_source *src, int s)
{
    const vsml_dataset *d = &src->sets[s];
    int C = d->n_classes;
    src->by_class[s] = malloc(sizeof(int32_t) * (size_t)d->n);
    src->class_start[s] = calloc((size_t)C + 1, sizeof(int32_t));
    if (!src->by_class[s] || !src->class_start[s]) {
        vsml_err("out of memory indexing dataset %s", d->name);
        return -1;
    }
    for (int i = 0; i < d->n; i++)
        src->class_start[s][d->y[i] + 1]++;
    for (int c = 0; c < C; c++)
        src->class_start[s][c + 1] += src->class_start[s][c];
    int32_t *fill = malloc(sizeof(int32_t) * (size_t)C);
    if (!fill) {
        vsml_err("out of memory indexing dataset %s", d->name);
        return -1;
    }
    memcpy(fill, src->class_start[s], sizeof(int32_t) * (size_t)C);
    for (int i = 0; i < d->n; i++)
        src->by_class[s][fill[d->y[i]]++] = i;
    free(fill);
    for (int c = 0; c < C; c++)
        if (src->class_start[s][c + 1] == src->class_start[s][c]) {
            vsml_err("dataset %s has no example of class %d", d->name, c);
            return -1;
        }
    return 0;
}

static int open_one(vsml_task_source *src, const char *name, const char *data_dir,
                    bool test_split, int classes, int resize)
{
    int s = src->n_sets;
    snprintf(src->names[s], sizeof(src->names[s]), "%s", name);
    src->n_sets++;
    if (is_synthetic(name))
        return 0;
    vsml_dataset_req req = {.name = name, .data_dir = data_dir && *data_dir ? data_dir : NULL,
                            .test_split = test_split};
    if (vsml_dataset_open(&req, &src->sets[s]) != 0)
        return -1;
    if (resize > 0 && vsml_dataset_resize(&src->sets[s], resize, resize) != 0)
        return -1;
    if (src->sets[s].n_classes < classes) {
        vsml_err("dataset %s has %d classes, fewer than classes = %d", name,
                 src->sets[s].n_classes, classes);
        return -1;
    }
    return index_classes(src, s);
}

int vsml_task_source_open(vsml_task_source *src, const char *names, const char *data_dir,
                          bool test_split, int classes, int resize)
{
    memset(src, 0, sizeof(*src));
    char buf[VSML_CFG_STR];
    snprintf(buf, sizeof(buf), "%s", names);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (src->n_sets == VSML_MAX_SETS) {
            vsml_err("more than %d datasets in '%s'", VSML_MAX_SETS, names);
            return -1;
        }
        if (open_one(src, t, data_dir, test_split, classes, resize) != 0) {
            vsml_task_source_free(src);
            return -1;
        }
    }
    if (src->n_sets == 0) {
        vsml_err("no dataset named in '%s'", names);
        return -1;
    }
    return 0;
}

void vsml_task_source_free(vsml_task_source *src)
{
    for (int s = 0; s < VSML_MAX_SETS; s++) {
        vsml_dataset_free(&src->sets[s]);
        free(src->by_class[s]);
        free(src->class_start[s]);
    }
    memset(src, 0, sizeof(*src));
}

/* What one task draws: its dataset, classes and projection. */
typedef struct task {
    int set;
    int cls[1024];  /* label l shows source class cls[l] */
    float *W;       /* [src_dim][D] or NULL */
    vsml_dataset rnd; /* the Random images of this task */
} task;

static void pick_classes(vsml_rng *r, int n_src, int k, bool permute, int *cls)
{
    int all[1024];
    for (int c = 0; c < n_src; c++)
        all[c] = c;
    bool shuffle = permute || k < n_src;
    for (int i = 0; i < k; i++) { /* partial Fisher-Yates: an ordered random subset */
        int j = shuffle ? i + (int)vsml_rng_below(r, (uint32_t)(n_src - i)) : i;
        int t = all[i];
        all[i] = all[j];
        all[j] = t;
        cls[i] = all[i];
    }
}

static int make_projection(vsml_rng *r, int din, int dout, float **W)
{
    *W = malloc(sizeof(float) * (size_t)din * dout);
    if (!*W) {
        vsml_err("out of memory for a %dx%d projection", din, dout);
        return -1;
    }
    double a = sqrt(6.0 / (din + dout)); /* sqrt(6 / 2D) when square */
    for (size_t i = 0; i < (size_t)din * dout; i++)
        (*W)[i] = (float)((2.0 * vsml_rng_uniform(r) - 1.0) * a);
    return 0;
}

/* The classes a task of data set s draws from (checked at most 1024 before
 * any task is drawn). */
static int set_classes(const vsml_task_source *src, const vsml_task_spec *sp, int s)
{
    const char *name = src->names[s];
    return is_synthetic(name) ? (!strcmp(name, "sumsign") ? 2 : sp->classes)
                              : src->sets[s].n_classes;
}

/* The data set of task k, its generator's first draw; r (if not NULL)
 * continues with the task's other draws. */
static int task_set(const vsml_task_source *src, uint64_t seed, uint32_t step, int k,
                    vsml_rng *r)
{
    vsml_rng own;
    r = r ? r : &own;
    step_rng(r, seed, step, TASK_STREAM | (uint32_t)k);
    return (int)vsml_rng_below(r, (uint32_t)src->n_sets);
}

static int task_begin(const vsml_task_source *src, const vsml_task_spec *sp, uint64_t seed,
                      uint32_t step, int k, task *t)
{
    memset(t, 0, sizeof(*t));
    vsml_rng r;
    t->set = task_set(src, seed, step, k, &r);
    const char *name = src->names[t->set];
    int n_src = set_classes(src, sp, t->set);
    pick_classes(&r, n_src, sp->classes, sp->permute_labels, t->cls);
    if (!strcmp(name, "random") &&
        vsml_synth_random(&t->rnd, RANDOM_IMAGES, sp->input_dim, sp->classes,
                          step_key(seed, step, (uint32_t)k, 1)) != 0)
        return -1;
    int din = is_synthetic(name) ? sp->input_dim : src->sets[t->set].dim;
    if (sp->project || din != sp->input_dim) {
        /* fixed per task slot k and input size, the same at every step
         * (spec section 7: "fixed per worker"; a slot is what a worker was) */
        vsml_rng pr;
        vsml_rng_init(&pr, step_key(seed, (uint32_t)din, 0, 3), PROJ_STREAM | (uint32_t)k,
                      VSML_TAG_DATA);
        return make_projection(&pr, din, sp->input_dim, &t->W);
    }
    return 0;
}

static void task_end(task *t)
{
    free(t->W);
    vsml_dataset_free(&t->rnd);
}

static void put_example(const task *t, const float *src, int din, int D, float *dst)
{
    if (!t->W) {
        memcpy(dst, src, sizeof(float) * (size_t)D);
        return;
    }
    for (int o = 0; o < D; o++)
        dst[o] = 0.0f;
    for (int i = 0; i < din; i++) {
        float v = src[i];
        if (v == 0.0f)
            continue;
        const float *w = t->W + (size_t)i * D;
        for (int o = 0; o < D; o++)
            dst[o] += v * w[o];
    }
}

/* One stream: T examples of the task, stream entries (j-jb)*T .. +T-1.
 * pool >= 0: the task's Random images are rows pool.. of x and the entries
 * point there; else the examples are written to rows xrow..xrow+T-1. */
static int fill_stream(const vsml_task_source *src, const vsml_task_spec *sp, uint64_t seed,
                       uint32_t step, int j, int jb, const task *t, int pool, int xrow,
                       float *x, int32_t *stream)
{
    const char *name = src->names[t->set];
    int D = sp->input_dim, T = sp->T;
    vsml_dataset ss = {0};
    if (!strcmp(name, "sumsign") &&
        vsml_synth_sumsign(&ss, T, D, step_key(seed, step, (uint32_t)j, 2)) != 0)
        return -1;
    vsml_rng r;
    step_rng(&r, seed, step, (uint32_t)j);
    /* a stored data set: its examples of the task's classes, each equally
     * likely (the data set's own class frequencies; spec section 6: a stream
     * of the data set), drawn with replacement */
    int n_task = 0;
    if (!ss.x && !t->rnd.x)
        for (int l = 0; l < sp->classes; l++) {
            int c = t->cls[l];
            n_task += src->class_start[t->set][c + 1] - src->class_start[t->set][c];
        }
    if (!ss.x && !t->rnd.x && n_task == 0) {
        vsml_err("data set %s has no example of the task's classes", name);
        return -1;
    }
    for (int s = 0; s < T; s++) {
        size_t row = (size_t)(j - jb) * T + s, xr = (size_t)xrow + s;
        int label, din = D;
        const float *ex;
        if (ss.x) {
            ex = ss.x + (size_t)s * D;
            label = ss.y[s];
        } else if (t->rnd.x) {
            int i = (int)vsml_rng_below(&r, (uint32_t)t->rnd.n);
            ex = t->rnd.x + (size_t)i * D;
            label = t->rnd.y[i];
            if (pool >= 0)
                xr = (size_t)pool + i;
        } else {
            const vsml_dataset *d = &src->sets[t->set];
            int u = (int)vsml_rng_below(&r, (uint32_t)n_task), a = 0;
            for (label = 0; label < sp->classes; label++) {
                int c = t->cls[label], n;
                a = src->class_start[t->set][c];
                n = src->class_start[t->set][c + 1] - a;
                if (u < n)
                    break;
                u -= n;
            }
            int i = src->by_class[t->set][a + u];
            ex = d->x + (size_t)i * d->dim;
            din = d->dim;
        }
        if (ss.x || t->rnd.x) { /* synthetic labels go through the permutation */
            int l = 0;
            while (l < sp->classes && t->cls[l] != label)
                l++;
            label = l < sp->classes ? l : label;
        }
        if (pool < 0)
            put_example(t, ex, din, D, x + xr * D);
        stream[row * 2] = (int32_t)xr;
        stream[row * 2 + 1] = label;
    }
    vsml_dataset_free(&ss);
    return 0;
}

int vsml_tasks_build(const vsml_task_source *src, const vsml_task_spec *sp, uint64_t seed,
                     uint32_t step, float *x, int32_t *stream, int *rows)
{
    return vsml_tasks_build_range(src, sp, seed, step, 0, sp->streams, x, stream, rows);
}

/* The example rows of task k's streams in [jb, je): its Random images once
 * when they are unprojected and fewer than a row per stream step (*pooled),
 * else a row per stream step. */
static int task_rows(const vsml_task_source *src, const vsml_task_spec *sp, int set, int k,
                     int jb, int je, bool *pooled)
{
    int spt = sp->streams_per_task, a = k * spt > jb ? k * spt : jb;
    int e = k * spt + spt < je ? k * spt + spt : je, per_step = (e - a) * sp->T;
    *pooled = !strcmp(src->names[set], "random") && !sp->project && RANDOM_IMAGES < per_step;
    return *pooled ? RANDOM_IMAGES : per_step;
}

int vsml_tasks_max_rows(const vsml_task_source *src, const vsml_task_spec *sp, int j_begin,
                        int j_end)
{
    int spt = sp->streams_per_task, rows = 0;
    for (int k = j_begin / spt; j_end > j_begin && k <= (j_end - 1) / spt; k++) {
        int most = 0;
        for (int set = 0; set < src->n_sets; set++) {
            bool pooled;
            int r = task_rows(src, sp, set, k, j_begin, j_end, &pooled);
            most = r > most ? r : most;
        }
        rows += most;
    }
    return rows;
}

/* The tasks are independent (each a function of seed, step and its index),
 * so they are drawn on all CPUs. */
typedef struct build_job {
    const vsml_task_source *src;
    const vsml_task_spec *sp;
    uint64_t seed;
    uint32_t step;
    int j_begin, j_end;
    float *x;
    int32_t *stream;
    int k0;            /* the first task */
    const int *xrow;   /* per task: its first example row */
    const bool *pooled; /* per task: its Random images stored once */
} build_job;

static int build_task(void *ctx, size_t i)
{
    const build_job *b = ctx;
    int spt = b->sp->streams_per_task, k = b->k0 + (int)i, j0 = k * spt;
    task *t = malloc(sizeof(*t));
    if (!t) {
        vsml_err("out of memory drawing a task");
        return -1;
    }
    int rc = task_begin(b->src, b->sp, b->seed, b->step, k, t);
    int a = j0 > b->j_begin ? j0 : b->j_begin, D = b->sp->input_dim, x0 = b->xrow[i];
    int pool = b->pooled[i] ? x0 : -1;
    if (rc == 0 && pool >= 0)
        memcpy(b->x + (size_t)pool * D, t->rnd.x, sizeof(float) * (size_t)t->rnd.n * D);
    for (int j = a; j < j0 + spt && j < b->j_end && rc == 0; j++)
        rc = fill_stream(b->src, b->sp, b->seed, b->step, j, b->j_begin, t, pool,
                         x0 + (j - a) * b->sp->T, b->x, b->stream);
    task_end(t);
    free(t);
    return rc != 0 ? -1 : 0;
}

int vsml_tasks_build_range(const vsml_task_source *src, const vsml_task_spec *sp,
                           uint64_t seed, uint32_t step, int j_begin, int j_end, float *x,
                           int32_t *stream, int *rows)
{
    if (sp->classes > 1024 || sp->streams_per_task < 1 || j_begin < 0 || j_end > sp->streams ||
        j_begin > j_end) {
        vsml_err("task spec: classes %d (at most 1024), streams per task %d, streams [%d, %d) "
                 "of %d", sp->classes, sp->streams_per_task, j_begin, j_end, sp->streams);
        return -1;
    }
    for (int set = 0; set < src->n_sets; set++)
        if (set_classes(src, sp, set) > 1024) {
            vsml_err("dataset %s has %d classes (at most 1024)", src->names[set],
                     set_classes(src, sp, set));
            return -1;
        }
    int spt = sp->streams_per_task, k0 = j_begin / spt;
    int n_tasks = j_end > j_begin ? (j_end - 1) / spt + 1 - k0 : 0;
    /* each task's rows, in task order: a prefix sum over their data sets */
    int *xrow = malloc(sizeof(int) * (size_t)(n_tasks + 1));
    bool *pooled = malloc(sizeof(bool) * (size_t)(n_tasks + 1));
    if (!xrow || !pooled) {
        free(xrow);
        free(pooled);
        vsml_err("out of memory laying out %d tasks", n_tasks);
        return -1;
    }
    xrow[0] = 0;
    for (int i = 0; i < n_tasks; i++)
        xrow[i + 1] = xrow[i] + task_rows(src, sp, task_set(src, seed, step, k0 + i, NULL), k0 + i,
                                          j_begin, j_end, &pooled[i]);
    build_job b = {src, sp, seed, step, j_begin, j_end, x, stream, k0, xrow, pooled};
    int rc = vsml_parallel_for((size_t)n_tasks, 0, build_task, &b);
    if (rows)
        *rows = xrow[n_tasks];
    free(xrow);
    free(pooled);
    return rc;
}
