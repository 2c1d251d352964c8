/* The ES machinery: the gradient estimate through the device perturbation
 * path on a known quadratic, host noise = device noise, determinism, the
 * optimiser, the configuration parser, and two identical tiny training runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>

#include "device_common.h"
#include "test.h"
#include "vsml/es.h"
#include "vsml/rng.h"

#define PAIRS 200
#define SIGMA 0.05f
#define SEED 7u
#define STEP 3u

static vsml_model_config small_model(void)
{
    int sizes[2] = {4, 2};
    vsml_model_config cfg;
    vsml_model_config_default(&cfg, 1, sizes);
    return cfg;
}

/* The perturbed vectors as the device writes them. */
static float *device_vectors_of(vsml_pop *pop, size_t n, const float *theta, uint32_t step,
                                int pairs, uint32_t base)
{
    float *v = malloc(sizeof(float) * n * 2 * pairs);
    int rc = vsml_pop_set_es_params(pop, theta, SIGMA, SEED, step, base) ||
             vsml_pop_get_params(pop, v);
    CHECK(rc == 0, "device perturbation failed");
    return v;
}

static float *device_vectors(vsml_pop *pop, size_t n, const float *theta, uint32_t step)
{
    return device_vectors_of(pop, n, theta, step, PAIRS, 0);
}

/* Pair j of the vectors v holds the noise of pair base + j at step STEP. */
static void check_noise_of(const float *v, const float *theta, size_t n, int pairs,
                           uint32_t base)
{
    double worst = 0;
    for (int j = 0; j < pairs; j++)
        for (size_t i = 0; i < n; i++) {
            float eh = vsml_es_noise(SEED, STEP, base + (uint32_t)j, (uint32_t)i);
            double ed = ((double)v[(2 * j) * n + i] - theta[i]) / SIGMA;
            double em = ((double)theta[i] - v[(2 * j + 1) * n + i]) / SIGMA;
            /* NaN-safe: a NaN on either side counts as an infinite error */
            double e = test_worst(test_worst(0.0, fabs(ed - eh)), fabs(em - eh));
            worst = test_worst(worst, e / (1.0 + fabs(eh)));
        }
    fprintf(stderr, "host vs device noise: worst relative difference %.2e\n", worst);
    CHECK(worst < 1e-4, "host and device noise differ by %.3g", worst);
}

static void check_noise(const float *v, const float *theta, size_t n)
{
    check_noise_of(v, theta, n, PAIRS, 0);
}

/* A share of pairs as an MPI rank has it: a pair count that is not a
 * multiple of VSML_PERTURB_PAIRS (an invocation's pairs), starting at pair 5. */
static void test_perturb_share(vsml_engine *eng)
{
    int pairs = 2 * VSML_PERTURB_PAIRS + 3;
    vsml_model_config cfg = small_model();
    size_t n = vsml_param_count(&cfg);
    float *theta = malloc(4 * n);
    vsml_params_init(&cfg, 9, theta);
    vsml_pop_shape shape = {.P = 2 * pairs, .E = 1, .T = 1, .n_examples = 1, .n_streams = 1};
    vsml_pop *pop = NULL;
    CHECK(vsml_pop_create(eng, &cfg, &shape, &pop) == 0, "pop");
    if (pop) {
        float *v = device_vectors_of(pop, n, theta, STEP, pairs, 5);
        check_noise_of(v, theta, n, pairs, 5);
        free(v);
        /* the example table takes at most its rows */
        float row[4] = {0};
        CHECK(vsml_pop_set_data_rows(pop, row, 1) == 0, "one row of one");
        CHECK(vsml_pop_set_data_rows(pop, row, 2) != 0, "two rows of a table of one");
        CHECK(vsml_pop_set_data_rows(pop, row, -1) != 0, "-1 rows");
    }
    vsml_pop_destroy(&pop);
    free(theta);
}

/* f(v) = sum_i a_i (v_i - c_i)^2 on every read-back vector. */
static void quadratic(const float *v, size_t n, const double *a, const double *c, float *fp,
                      float *fm)
{
    for (int k = 0; k < 2 * PAIRS; k++) {
        double f = 0;
        for (size_t i = 0; i < n; i++) {
            double d = v[(size_t)k * n + i] - c[i];
            f += a[i] * d * d;
        }
        (k % 2 ? fm : fp)[k / 2] = (float)f;
    }
}

/* Each component of the estimate against the true gradient, in units of the
 * standard error derived from the per-pair terms eps_ij * w_j. */
static void check_estimate(const float *g, const float *w, const float *theta, size_t n,
                           const double *a, const double *c)
{
    int within3 = 0;
    double zmax = 0, z2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0, s2 = 0;
        for (int j = 0; j < PAIRS; j++) {
            double t = (double)vsml_es_noise(SEED, STEP, (uint32_t)j, (uint32_t)i) * w[j];
            s += t;
            s2 += t * t;
        }
        double mean = s / PAIRS, var = (s2 / PAIRS - mean * mean) * PAIRS / (PAIRS - 1);
        double se = sqrt(var / PAIRS), truth = 2 * a[i] * (theta[i] - c[i]);
        double z = fabs(g[i] - truth) / se;
        within3 += z <= 3;
        zmax = z > zmax ? z : zmax;
        z2 += z * z;
    }
    fprintf(stderr, "ES estimate: %.4f within 3 se, mean z^2 %.3f, max z %.2f (%zu params)\n",
            (double)within3 / n, z2 / n, zmax, n);
    CHECK(within3 >= 0.97 * n, "only %d of %zu components within 3 standard errors", within3, n);
    CHECK(z2 / n > 0.7 && z2 / n < 1.3, "mean z^2 = %.3f, expected about 1", z2 / n);
    CHECK(zmax < 7, "a component is %.2f standard errors off", zmax);
}

static void test_gradient(vsml_engine *eng)
{
    vsml_model_config cfg = small_model();
    size_t n = vsml_param_count(&cfg);
    float *theta = malloc(4 * n), *g = malloc(4 * n), *g2 = malloc(4 * n);
    double *a = malloc(8 * n), *c = malloc(8 * n);
    float fp[PAIRS], fm[PAIRS], w[PAIRS];
    vsml_params_init(&cfg, 5, theta);
    vsml_rng r;
    vsml_rng_init(&r, 99, 0, VSML_TAG_DATA);
    for (size_t i = 0; i < n; i++) {
        a[i] = 0.5 + vsml_rng_uniform(&r);
        c[i] = vsml_rng_normal(&r) * 0.3;
    }
    vsml_pop_shape shape = {.P = 2 * PAIRS, .E = 1, .T = 1, .n_examples = 1, .n_streams = 1};
    vsml_pop *pop = NULL;
    CHECK(vsml_pop_create(eng, &cfg, &shape, &pop) == 0, "pop");
    if (!pop)
        return;
    float *v = device_vectors(pop, n, theta, STEP);
    check_noise(v, theta, n);
    quadratic(v, n, a, c, fp, fm);
    vsml_es_opts o = {.sigma = SIGMA};
    CHECK(vsml_es_gradient(&o, n, SEED, STEP, PAIRS, fp, fm, g, w) == 0, "gradient");
    check_estimate(g, w, theta, n, a, c);
    float *v2 = device_vectors(pop, n, theta, STEP);
    CHECK(memcmp(v, v2, 4 * n * 2 * PAIRS) == 0, "same seed and step: vectors differ");
    CHECK(vsml_es_gradient(&o, n, SEED, STEP, PAIRS, fp, fm, g2, NULL) == 0, "gradient 2");
    CHECK(memcmp(g, g2, 4 * n) == 0, "same inputs: the estimates differ");
    float *v3 = device_vectors(pop, n, theta, STEP + 1);
    CHECK(memcmp(v, v3, 4 * n * 2 * PAIRS) != 0, "another step drew the same noise");
    vsml_pop_destroy(&pop);
    free(v); free(v2); free(v3); free(theta); free(g); free(g2); free(a); free(c);
}

/* The threaded, blocked gradient is exactly the definition: per parameter
 * the sum over pairs in order, in double, of vsml_es_noise * weight, over
 * P. n is odd and spans several blocks; some weights are zero. */
static void test_gradient_sum(void)
{
    enum { N = 1237, NP = 37 };
    float fp[NP], fm[NP], w[NP], *g = malloc(4 * N);
    vsml_rng r;
    vsml_rng_init(&r, 5, 0, VSML_TAG_DATA);
    for (int j = 0; j < NP; j++) {
        fp[j] = (float)vsml_rng_normal(&r);
        fm[j] = j % 5 == 0 ? fp[j] : (float)vsml_rng_normal(&r);
    }
    vsml_es_opts o = {.sigma = SIGMA};
    CHECK(vsml_es_gradient(&o, N, SEED, STEP, NP, fp, fm, g, w) == 0, "gradient");
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double acc = 0;
        for (int j = 0; j < NP; j++)
            acc += (double)vsml_es_noise(SEED, STEP, (uint32_t)j, (uint32_t)i) *
                   ((fp[j] - fm[j]) / (2.0f * SIGMA));
        bad += g[i] != (float)(acc / NP);
    }
    CHECK(bad == 0, "%d of %d gradient components differ from the definition", bad, N);
    CHECK(vsml_es_gradient(&o, N, SEED, STEP, 0, fp, fm, g, w) != 0, "a gradient of no pairs");
    for (uint32_t i2 = 0; i2 < 300; i2 += 7) {
        float e[2];
        vsml_es_noise2(SEED, STEP, 11, i2, e);
        CHECK(e[0] == vsml_es_noise(SEED, STEP, 11, 2 * i2) &&
              e[1] == vsml_es_noise(SEED, STEP, 11, 2 * i2 + 1), "noise2 at %u", i2);
    }
    free(g);
}

static void test_optimiser(void)
{
    float f[5] = {3, 1, 2, 2, -1}, rk[5];
    CHECK(vsml_es_centered_ranks(f, 5, rk) == 0, "ranks");
    CHECK(rk[0] == 0.5f && rk[4] == -0.5f && rk[1] == -0.25f && rk[2] == 0.0f &&
          rk[3] == 0.25f, "centred ranks %g %g %g %g %g", rk[0], rk[1], rk[2], rk[3], rk[4]);
    float th[2] = {1, 1}, m[2] = {0}, v[2] = {0}, g[2] = {4, -0.001f};
    vsml_es_opts o = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f};
    vsml_es_adam(&o, 2, 1, th, m, v, g);
    CHECK_NEAR(th[0], 0.9, 1e-5); /* Adam's first step is lr * sign(g) */
    CHECK_NEAR(th[1], 1.1, 1e-4);
    float th2[2] = {0, 0}, m2[2] = {0}, v2[2] = {0}, g3[2] = {3, 4};
    o.grad_clip = 1.0f;
    double norm = vsml_es_adam(&o, 2, 1, th2, m2, v2, g3);
    CHECK_NEAR(norm, 5.0, 1e-6);
    CHECK_NEAR(g3[0], 0.6, 1e-6);
}

static void test_config(void)
{
    vsml_train_config c;
    vsml_train_config_default(&c);
    char errs[4096] = "";
    int n = vsml_train_config_parse(&c, "pairs = 0\nnope = 3\nsigma = x\nlr = 0.1 # ok\nbad line\n",
                                    "t", errs, sizeof(errs));
    CHECK(n == 4, "expected 4 problems, got %d: %s", n, errs);
    CHECK(c.lr == 0.1f, "lr not applied");
    vsml_train_config d;
    vsml_train_config_default(&d);
    char *text = vsml_train_config_format(&d);
    vsml_train_config e;
    memset(&e, 0x55, sizeof(e));
    vsml_train_config_default(&e);
    errs[0] = 0;
    CHECK(vsml_train_config_parse(&e, text, "fmt", errs, sizeof(errs)) == 0, "%s", errs);
    CHECK(vsml_train_config_hash(&d) == vsml_train_config_hash(&e), "round trip changes hash");
    e.steps = 5;
    CHECK(vsml_train_config_hash(&d) == vsml_train_config_hash(&e), "steps changed the hash");
    e.sigma = 0.1f;
    CHECK(vsml_train_config_hash(&d) != vsml_train_config_hash(&e), "sigma kept the hash");
    free(text);
}

static void tiny_config(vsml_train_config *c)
{
    vsml_train_config_default(c);
    char errs[4096] = "";
    int n = vsml_train_config_parse(c, "layers = 4,2\ninput_dim = 4\npairs = 4\n"
                                    "pairs_per_task = 2\nT = 6\neval_episodes = 2\n"
                                    "eval_steps = 6\n", "tiny", errs, sizeof(errs));
    n += vsml_train_config_validate(c, errs, sizeof(errs));
    CHECK(n == 0, "tiny config: %s", errs);
}

static float *train_twice_run(vsml_engine *eng, const vsml_train_config *c, int steps)
{
    vsml_model_config cfg;
    CHECK(vsml_train_model_config(c, &cfg) == 0, "model config");
    size_t n = vsml_param_count(&cfg);
    float *theta = malloc(4 * n), *out = malloc(12 * n);
    vsml_params_init(&cfg, c->seed, theta);
    vsml_trainer *tr = NULL;
    CHECK(vsml_trainer_create(eng, c, theta, &tr) == 0, "trainer");
    for (int s = 0; s < steps && tr; s++) {
        vsml_step_info si;
        CHECK(vsml_trainer_step(tr, (uint32_t)s, &si) == 0, "step %d", s);
        CHECK(si.updated && isfinite(si.fitness_mean), "step %d: no update", s);
    }
    if (tr) {
        vsml_eval_info ev;
        CHECK(vsml_trainer_eval(tr, &ev) == 0 && ev.accuracy >= 0 && ev.accuracy <= 1, "eval");
        memcpy(out, vsml_trainer_theta(tr), 4 * n);
        memcpy(out + n, vsml_trainer_adam_m(tr), 4 * n);
        memcpy(out + 2 * n, vsml_trainer_adam_v(tr), 4 * n);
        CHECK(memcmp(out, theta, 4 * n) != 0, "training left theta unchanged");
    }
    vsml_trainer_destroy(&tr);
    free(theta);
    return out;
}

static void test_training(vsml_engine *eng)
{
    vsml_train_config c;
    tiny_config(&c);
    vsml_model_config cfg;
    vsml_train_model_config(&c, &cfg);
    size_t n = vsml_param_count(&cfg);
    float *a = train_twice_run(eng, &c, 3), *b = train_twice_run(eng, &c, 3);
    CHECK(memcmp(a, b, 12 * n) == 0, "two identical training runs differ");
    free(a);
    free(b);
}

/* Example e of a build: the row stream entry e points at. */
static const float *example(const float *x, const int32_t *st, int e, int D)
{
    return x + (size_t)st[2 * e] * D;
}

/* Two builds of the same streams hold the same examples and labels. */
static int same_examples(const float *xa, const int32_t *sa, int ea, const float *xb,
                         const int32_t *sb, int eb, int n, int D)
{
    int bad = 0;
    for (int e = 0; e < n; e++)
        bad += sa[2 * (ea + e) + 1] != sb[2 * (eb + e) + 1] ||
               memcmp(example(xa, sa, ea + e, D), example(xb, sb, eb + e, D), 4 * (size_t)D);
    return bad;
}

static void test_tasks(void)
{
    vsml_task_source src;
    CHECK(vsml_task_source_open(&src, "sumsign,random", NULL, false, 2, 0) == 0, "source");
    enum { D = 5, T = 7, S = 6 };
    vsml_task_spec sp = {.input_dim = D, .classes = 2, .T = T, .streams = S,
                         .streams_per_task = 2, .permute_labels = true};
    float x1[S * T * D], x2[S * T * D], x3[S * T * D];
    int32_t s1[S * T * 2], s2[S * T * 2], s3[S * T * 2];
    int r1, r2, r3;
    CHECK(vsml_tasks_build(&src, &sp, 3, 10, x1, s1, &r1) == 0, "build");
    CHECK(vsml_tasks_build(&src, &sp, 3, 10, x2, s2, &r2) == 0, "build");
    CHECK(vsml_tasks_build(&src, &sp, 3, 11, x3, s3, &r3) == 0, "build");
    /* 20 Random images are more than a task's 2 x 7 steps: a row per step */
    CHECK(r1 == S * T && r1 == vsml_tasks_max_rows(&src, &sp, 0, S), "rows %d", r1);
    CHECK(r1 == r2 && !memcmp(x1, x2, 4 * (size_t)r1 * D) && !memcmp(s1, s2, sizeof(s1)),
          "tasks not reproducible");
    CHECK(memcmp(x1, x3, sizeof(x1)) != 0, "another step gave the same data");
    for (int i = 0; i < S * T; i++)
        CHECK(s1[2 * i] >= 0 && s1[2 * i] < r1 && s1[2 * i + 1] >= 0 && s1[2 * i + 1] < 2,
              "stream %d", i);
    /* an MPI rank's share, starting and ending inside a task: the same
     * examples and labels as those streams of the full build */
    float xr[3 * T * D];
    int32_t sr[3 * T * 2];
    int rr;
    CHECK(vsml_tasks_build_range(&src, &sp, 3, 10, 1, 4, xr, sr, &rr) == 0, "build range");
    CHECK(rr <= vsml_tasks_max_rows(&src, &sp, 1, 4), "range rows %d", rr);
    CHECK(same_examples(xr, sr, 0, x1, s1, T, 3 * T, D) == 0, "streams 1..3 built alone differ");
    vsml_task_source_free(&src);

    /* Random tasks of many steps store their 20 images once */
    CHECK(vsml_task_source_open(&src, "random", NULL, false, 3, 0) == 0, "source");
    enum { TL = 30, SL = 5 };
    vsml_task_spec sl = {.input_dim = D, .classes = 3, .T = TL, .streams = SL,
                         .streams_per_task = 2};
    float *xa = malloc(sizeof(float) * SL * TL * D), *xb = malloc(sizeof(float) * SL * TL * D);
    int32_t *sa = malloc(8 * SL * TL), *sb = malloc(8 * SL * TL);
    int ra, rb;
    CHECK(vsml_tasks_build(&src, &sl, 4, 2, xa, sa, &ra) == 0, "build");
    CHECK(ra == 3 * 20 && vsml_tasks_max_rows(&src, &sl, 0, SL) == 3 * 20, "rows %d", ra);
    int bad = 0;
    for (int i = 0; i < SL * TL; i++) /* stream j of task j / 2 draws from its images */
        bad += sa[2 * i] / 20 != i / TL / 2 || sa[2 * i + 1] < 0 || sa[2 * i + 1] >= 3;
    CHECK(bad == 0, "%d stream entries outside their task's images", bad);
    CHECK(vsml_tasks_build_range(&src, &sl, 4, 2, 3, 5, xb, sb, &rb) == 0, "build range");
    CHECK(rb == 2 * 20, "range rows %d", rb);
    CHECK(same_examples(xb, sb, 0, xa, sa, 3 * TL, 2 * TL, D) == 0,
          "streams 3..4 built alone differ");
    free(xa); free(xb); free(sa); free(sb);
    vsml_task_source_free(&src);
}

/* A stored data set (MNIST-format files of 2x2 images, all the same
 * picture): 90 of its 100 examples are class 0, one or two each of 1..9. */
static int write_idx_set(const char *dir)
{
    enum { N = 100 };
    char path[512];
    snprintf(path, sizeof(path), "%s/mnist", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    uint8_t img[16 + N * 4], lab[8 + N];
    const uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, 2, 0, 0, 0, 2};
    const uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 0, N};
    memcpy(img, hi, 16);
    memcpy(lab, hl, 8);
    for (int i = 0; i < N; i++) {
        for (int p = 0; p < 4; p++)
            img[16 + 4 * i + p] = (uint8_t)(40 * p + 10);
        lab[8 + i] = (uint8_t)(i < 90 ? 0 : 1 + (i - 90) % 9);
    }
    const char *names[2] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
    const uint8_t *data[2] = {img, lab};
    size_t len[2] = {sizeof(img), sizeof(lab)};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof(path), "%s/mnist/%s", dir, names[f]);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(data[f], 1, len[f], fp) != len[f] || fclose(fp) != 0)
            return -1;
    }
    return 0;
}

/* Tasks of a stored data set (spec sections 6 and 7): examples are drawn
 * with the data set's own class frequencies, not a class first; a task
 * slot's random projection is the same at every step, and differs between
 * slots. */
static void test_tasks_stored(void)
{
    char dir[] = "/tmp/vsml_test_tasks_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(write_idx_set(dir) == 0, "cannot write the IDX files under %s", dir);
    vsml_task_source src;
    if (vsml_task_source_open(&src, "mnist", dir, false, 10, 0) != 0) {
        CHECK(0, "source");
        return;
    }
    enum { D = 4, T = 100, S = 8 };
    vsml_task_spec sp = {.input_dim = D, .classes = 10, .T = T, .streams = S,
                         .streams_per_task = 1};
    float *x = malloc(sizeof(float) * S * T * D), *x2 = malloc(sizeof(float) * S * T * D);
    int32_t *st = malloc(8 * S * T), *st2 = malloc(8 * S * T);
    int rows, rows2, zeros = 0;
    CHECK(vsml_tasks_build(&src, &sp, 5, 1, x, st, &rows) == 0, "build");
    for (int i = 0; i < S * T; i++)
        zeros += st[2 * i + 1] == 0;
    /* 0.9 expected (0.1 if a class were drawn first); 800 draws: sd 0.011 */
    double f0 = zeros / (double)(S * T);
    CHECK(fabs(f0 - 0.9) < 0.05, "class 0 is %.3f of the labels, not about 0.9", f0);
    /* projected: slot j's rows equal at steps 1 and 2 (the same picture
     * through the same W), slots 0 and 1 differ */
    sp.project = true;
    CHECK(vsml_tasks_build(&src, &sp, 5, 1, x, st, &rows) == 0 &&
              vsml_tasks_build(&src, &sp, 5, 2, x2, st2, &rows2) == 0, "build projected");
    int same = 0;
    for (int j = 0; j < S; j++)
        same += !memcmp(x + (size_t)st[2 * j * T] * D, x2 + (size_t)st2[2 * j * T] * D,
                        sizeof(float) * D);
    CHECK(same == S, "%d of %d slots kept their projection from step 1 to 2", same, S);
    CHECK(memcmp(x + (size_t)st[0] * D, x + (size_t)st[2 * T] * D, sizeof(float) * D) != 0,
          "slots 0 and 1 have the same projection");
    free(x); free(x2); free(st); free(st2);
    vsml_task_source_free(&src);
    char path[512];
    snprintf(path, sizeof(path), "%s/mnist/train-images-idx3-ubyte", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/mnist/train-labels-idx1-ubyte", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/mnist", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    test_optimiser();
    test_gradient_sum();
    test_config();
    test_tasks();
    test_tasks_stored();
    vsml_engine *eng = test_engine(0, 0);
    test_gradient(eng);
    test_perturb_share(eng);
    test_training(eng);
    CHECK(test_validation_errors(eng) == 0, "validation");
    vsml_engine_destroy(&eng);
    TEST_END();
}
