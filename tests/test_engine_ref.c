/* Device vs CPU reference on random configurations (issue: K = 1, 2, 3,
 * awkward layer sizes, P up to 64, E > 1, T = 50, feed_label and
 * backward_pass on and off). Per-step logits must agree to
 * |dev - ref| <= TOL * max(1, |ref|): the reference runs in double, the
 * device in float, and 50 steps of recurrent dynamics amplify float rounding
 * (about 1e-7 per operation) by far less than 1e3; a logit error of 1e-4
 * changes a softmax probability by at most 0.01%. State size N = 64 (the
 * cloning configuration) has its own cases, with both kernels. The random
 * cases alternate between the engine's choice of kernel (on a CPU device the
 * cpu kernel, except for per-layer parameters) and the parallel kernel (the
 * GPU kernel); the cpu kernel has its own cases with awkward workgroups. */
#include <stdlib.h>
#include <string.h>

#include "device_common.h"
#include "test.h"
#include "vsml/ref.h"
#include "vsml/rng.h"
#include "vsml/util.h"

#define TOL 1e-4

static const int size_pool[] = {1, 3, 7, 33, 100, 784};

static double compare(const float *d, const float *r, size_t n, double *max_abs)
{
    double worst = 0;
    *max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)d[i] - r[i]);
        double rel = e / fmax(1.0, fabs(r[i]));
        if (!(rel <= worst))
            worst = isnan(rel) ? INFINITY : rel;
        if (e > *max_abs)
            *max_abs = e;
    }
    return worst;
}

static int n_big_population, n_784, n_deep;

static void check_case(vsml_engine *eng, int idx, const vsml_model_config *cfg, int P, int E,
                       int T);
static vsml_run_stats last_stats; /* of check_case's device rollout */

static void run_case(vsml_engine *eng, vsml_engine *par, int idx, vsml_rng *r)
{
    vsml_model_config cfg;
    int K = 1 + (int)vsml_rng_below(r, 3);
    int sizes[4];
    /* keep the CPU reference affordable: at most one large layer */
    for (int k = 0; k <= K; k++)
        sizes[k] = size_pool[vsml_rng_below(r, 4)];
    if (idx % 4 == 0)
        sizes[0] = 784;
    else if (idx % 4 == 1)
        sizes[0] = 100;
    if (sizes[K] < 2)
        sizes[K] = 2 + (int)vsml_rng_below(r, 9);
    /* lavapipe and the double reference both take minutes for a 784x33
     * layer at T = 50: keep the large-input cases at most 784x10 */
    for (int k = 1; k <= K && sizes[0] == 784; k++)
        if (sizes[k] > 10)
            sizes[k] = 10;
    vsml_model_config_default(&cfg, K, sizes);
    cfg.feed_label = vsml_rng_below(r, 2);
    cfg.backward_pass = vsml_rng_below(r, 2);
    cfg.per_layer_params = vsml_rng_below(r, 2);
    cfg.clip_state = vsml_rng_below(r, 3) == 0 ? 4.0f : 0.0f;
    cfg.micro_ticks = 1 + (int)vsml_rng_below(r, 3);
    /* no draw: the cases drawn before clear_bwd existed stay the same */
    cfg.clear_bwd = cfg.backward_pass && K > 1 && idx % 2 == 0;
    size_t subl = vsml_model_sub_lstms(&cfg);
    if (subl > 2000 && cfg.micro_ticks > 2)
        cfg.micro_ticks = 2;
    /* episodes in proportion to what a case costs (lavapipe and the double
     * reference run about 2e5 sub-LSTM updates/s here): P = 64 and E = 2
     * for the small networks, down to a single episode pair for 784x10 */
    double work = 50.0 * (double)subl * cfg.micro_ticks * (cfg.backward_pass ? 2 : 1);
    int P = work * 128 <= 2e6 ? 64 : work * 16 <= 2e6 ? 8 : 2;
    int E = work * 4 <= 2e6 ? 2 : 1;
    int T = 50;
    n_big_population += P == 64 && E == 2;
    n_784 += sizes[0] == 784;
    n_deep += K == 3;
    check_case(idx % 2 ? par : eng, idx, &cfg, P, E, T);
}

/* One configuration on the device against the reference. */
static void check_case(vsml_engine *eng, int idx, const vsml_model_config *cfg, int P, int E,
                       int T)
{
    int K = cfg->n_layers;
    const int *sizes = cfg->sizes;
    vsml_episodes ep;
    test_episodes(cfg, P, E, T, 1000 + idx, &ep);
    float *params = test_params(cfg, P, 77 + idx, 0.05f);
    size_t R = (size_t)P * E, C = (size_t)sizes[K];
    float *ld = calloc(R * T * C, 4), *lr = calloc(R * T * C, 4);
    float *sd = calloc(R, 4), *sr = calloc(R, 4), *cd = calloc(R, 4), *cr = calloc(R, 4);
    vsml_rollout_out od = {.logits = ld, .loss_sum = sd, .correct = cd};
    vsml_rollout_out orf = {.logits = lr, .loss_sum = sr, .correct = cr};
    double t0 = vsml_now();
    int rc1 = vsml_engine_rollout(eng, cfg, params, &ep, &od, &last_stats);
    double t1 = vsml_now();
    int rc2 = vsml_ref_rollout(cfg, params, &ep, &orf);
    double t2 = vsml_now();
    CHECK(rc1 == 0 && rc2 == 0, "case %d: rollout failed", idx);
    double max_abs, rel = compare(ld, lr, R * T * C, &max_abs);
    double lmax_abs, lrel = compare(sd, sr, R, &lmax_abs);
    char desc[160];
    snprintf(desc, sizeof(desc), "N=%d K=%d sizes=%d", vsml_state_size(cfg), K, sizes[0]);
    for (int k = 1; k <= K; k++)
        snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc), "x%d", sizes[k]);
    fprintf(stderr, "case %2d: %-23s P=%2d E=%d ticks=%d fl=%d bp=%d cb=%d pl=%d clip=%g: "
                    "logit rel err %.2e (abs %.2e), loss-sum rel err %.2e [%.1fs dev, %.1fs ref]\n",
            idx, desc, P, E, cfg->micro_ticks, cfg->feed_label, cfg->backward_pass,
            cfg->clear_bwd, cfg->per_layer_params, cfg->clip_state, rel, max_abs, lrel, t1 - t0, t2 - t1);
    CHECK(rel <= TOL, "case %d (%s): logits differ by %.3e relative", idx, desc, rel);
    CHECK(lrel <= TOL * T, "case %d: loss sums differ by %.3e", idx, lrel);
    /* correctness counts may differ only where two logits tie within TOL */
    for (size_t i = 0; i < R; i++)
        CHECK(fabs(cd[i] - cr[i]) <= 1.0, "case %d episode %zu: %g vs %g correct", idx, i,
              cd[i], cr[i]);
    free(ld); free(lr); free(sd); free(sr); free(cd); free(cr);
    free(params);
    test_episodes_free(&ep);
}

/* N = 64: each sub-LSTM step is 16x the work of N = 16, so small layers,
 * few steps and few episodes; the serial and the parallel kernel each run
 * the shared and the per-layer case (with clipping, feed_label and the
 * backward pass) and a 2-layer net with a 100-input layer. */
static void run_n64_cases(void)
{
    static const struct {
        int K, sizes[3], P, E, T, ticks;
        bool fl, bp, pl;
        float clip;
    } cases[] = {
        {1, {7, 3}, 4, 2, 20, 2, true, true, false, 0.0f},
        {2, {4, 3, 2}, 2, 2, 12, 1, false, true, true, 4.0f},
        {2, {100, 3, 2}, 2, 1, 6, 2, true, false, false, 0.0f},
    };
    enum vsml_kernel kernels[2] = {VSML_KERNEL_SERIAL, VSML_KERNEL_PARALLEL};
    for (int kk = 0; kk < 2; kk++) {
        vsml_engine *eng = test_engine_kernel(0, 0, kernels[kk]);
        /* the 100-input case is too long a step for the serial kernel on llvmpipe */
        for (size_t i = 0; i < VSML_ARRAY_SIZE(cases) - (kk == 0); i++) {
            vsml_model_config cfg;
            vsml_model_config_default(&cfg, cases[i].K, cases[i].sizes);
            cfg.state_size = 64;
            cfg.micro_ticks = cases[i].ticks;
            cfg.feed_label = cases[i].fl;
            cfg.backward_pass = cases[i].bp;
            cfg.per_layer_params = cases[i].pl;
            cfg.clip_state = cases[i].clip;
            cfg.clear_bwd = i == 1;
            fprintf(stderr, "N=64, %s kernel:\n", kk == 0 ? "serial" : "parallel");
            check_case(eng, 100 + kk * 10 + (int)i, &cfg, cases[i].P, cases[i].E, cases[i].T);
        }
        CHECK(test_validation_errors(eng) == 0, "validation errors (N=64)");
        vsml_engine_destroy(&eng);
    }
}

static uint32_t split_plan_wg(vsml_engine *eng, int K, const int *sizes)
{
    vsml_model_config cfg;
    vsml_model_config_default(&cfg, K, sizes);
    vsml_pop_shape shape = {.P = 1, .E = 1, .T = 2, .n_examples = 2, .n_streams = 1};
    vsml_pop *pop = NULL;
    vsml_pop_plan_info pi = {0};
    CHECK(vsml_pop_create(eng, &cfg, &shape, &pop) == 0, "pop %dx%d", sizes[0], sizes[1]);
    if (pop)
        vsml_pop_plan(pop, &pi);
    vsml_pop_destroy(&pop);
    CHECK(pi.split == 2, "%dx%d: split %d, not 2", sizes[0], sizes[1], pi.split);
    return pi.workgroup_size;
}

/* The split mode's workgroup (engine.c, cpu_split_wg): the multiple of 8 in
 * [32, 64] whose lanes are best used, counted by hand for subgroups of 8
 * lanes (llvmpipe's 256-bit vectors) or 4. 50x10, a share of 25 inputs per
 * workgroup: 32 lanes serve 3 inputs at a time in 9 rounds (250 of 288
 * slots), 40 serve 4 in 7 (250 of 280), 48 4 in 7 (of 336), 56 5 in 5 (of
 * 280, no better than 40), 64 6 in 5 (of 320): 40. 33x10, a share of 17: 32
 * in 6 rounds (170 of 192), 40 in 5 (of 200), 64 in 3 (of 192, no better):
 * 32. 784x64x10: only 64 holds 64 outputs. */
static void check_split_workgroups(void)
{
    vsml_engine_params p = {.kernel = VSML_KERNEL_CPU, .split = 2};
    vsml_engine *eng;
    CHECK(vsml_engine_create(&eng, &p) == 0, "engine (cpu kernel, split 2)");
    vsml_device_info di;
    vsml_engine_info(eng, &di);
    uint32_t w50 = split_plan_wg(eng, 1, (const int[]){50, 10});
    uint32_t w33 = split_plan_wg(eng, 1, (const int[]){33, 10});
    uint32_t wdeep = split_plan_wg(eng, 2, (const int[]){784, 64, 10});
    if (di.subgroup_size == 8 || di.subgroup_size == 4) {
        CHECK(w50 == 40, "50x10 split in two: workgroup %u, not 40", w50);
        CHECK(w33 == 32, "33x10 split in two: workgroup %u, not 32", w33);
    }
    CHECK(w50 >= 32 && w50 <= 64 && w33 >= 32 && w33 <= 64, "split workgroups %u, %u", w50,
          w33);
    CHECK(wdeep == 64, "784x64x10 split in two: workgroup %u, not 64", wdeep);
    vsml_engine_destroy(&eng);
}

/* The cpu kernel (VSML_KERNEL_CPU; workgroup 64, with a split the split's
 * own, check_split_workgroups) where lanes stay idle (B
 * does not divide the workgroup), A is not a multiple of the invocations per output
 * (a partial last round), with hidden layers (the G messages and the U terms
 * above layer 0), several members and episodes per member. (A workgroup of
 * 24, `--workgroup-size`, passed too; each size is a minute of compile.)
 * Then with workgroups sharing an episode (engine param split: a layer
 * update's micro ticks on split workgroups per episode, the messages and the
 * loss in the last of them to finish): the backward pass, clearing, a hidden
 * layer, several chunks, a split larger than the narrowest layer (clamped to
 * it). The dispatch count shows that the split path ran: per chunk, one for
 * the initial states and one per step and sweep. */
static void run_cpu_cases(void)
{
    static const struct {
        int K, sizes[4], P, E, T, ticks, split, chunk;
        bool fl, bp, cb;
        float clip;
    } cases[] = {
        {1, {33, 10}, 8, 2, 30, 2, 0, 0, true, true, false, 4.0f},
        {2, {20, 7, 3}, 4, 2, 30, 3, 0, 0, false, true, false, 0.0f},
        {3, {13, 9, 5, 2}, 8, 1, 30, 1, 0, 0, true, true, false, 0.0f},
        {1, {100, 10}, 2, 1, 20, 2, 0, 0, false, false, false, 0.0f},
        {1, {33, 10}, 1, 1, 12, 2, 2, 0, true, true, false, 0.0f},
        {2, {20, 7, 3}, 2, 1, 10, 3, 3, 0, false, true, true, 0.0f},
        {3, {13, 9, 5, 2}, 1, 1, 8, 1, 8, 0, true, false, false, 0.0f},
        {1, {50, 10}, 3, 1, 6, 2, 2, 2, false, false, false, 0.0f},
        /* the paper's input layer under a 64-wide hidden one, split in two:
         * a dispatch per layer update must fit llvmpipe's loop limit with
         * the split's workgroup (64, where the whole step would not) */
        {2, {784, 64, 10}, 1, 1, 3, 2, 2, 0, false, false, false, 0.0f},
    };
    for (size_t i = 0; i < VSML_ARRAY_SIZE(cases); i++) {
        vsml_engine_params p = {.kernel = VSML_KERNEL_CPU, .split = cases[i].split,
                                .max_chunk_episodes = cases[i].chunk};
        vsml_engine *eng;
        CHECK(vsml_engine_create(&eng, &p) == 0, "engine (cpu kernel, split %d)", cases[i].split);
        vsml_model_config cfg;
        vsml_model_config_default(&cfg, cases[i].K, cases[i].sizes);
        cfg.micro_ticks = cases[i].ticks;
        cfg.feed_label = cases[i].fl;
        cfg.backward_pass = cases[i].bp;
        cfg.clear_bwd = cases[i].cb;
        cfg.clip_state = cases[i].clip;
        fprintf(stderr, "cpu kernel, split %d (0: automatic):\n", cases[i].split);
        check_case(eng, 200 + (int)i, &cfg, cases[i].P, cases[i].E, cases[i].T);
        if (cases[i].split > 1) {
            int R = cases[i].P * cases[i].E;
            int chunks = cases[i].chunk ? (R + cases[i].chunk - 1) / cases[i].chunk : 1;
            int sweeps = cases[i].bp ? 2 * cases[i].K : cases[i].K;
            int want = chunks * (1 + cases[i].T * sweeps);
            CHECK(last_stats.dispatches == want, "cpu case %zu: %d dispatches, not %d", i,
                  last_stats.dispatches, want);
        }
        CHECK(test_validation_errors(eng) == 0, "validation errors (cpu kernel)");
        vsml_engine_destroy(&eng);
    }
    check_split_workgroups();
}

int main(int argc, char **argv)
{
    int n_cases = argc > 1 ? atoi(argv[1]) : 14; /* CI time: 22 took 2 minutes more */
    vsml_engine *eng = test_engine(0, 0);
    vsml_engine *par = test_engine_kernel(0, 0, VSML_KERNEL_PARALLEL);
    vsml_rng r;
    vsml_rng_init(&r, 2024, 0, VSML_TAG_DATA);
    for (int i = 0; i < n_cases; i++)
        run_case(eng, par, i, &r);
    CHECK(test_validation_errors(eng) == 0 && test_validation_errors(par) == 0,
          "validation errors");
    vsml_engine_destroy(&par);
    run_cpu_cases();
    run_n64_cases();
    if (n_cases >= 14)
        CHECK(n_big_population > 0 && n_784 > 0 && n_deep > 0,
              "the cases must cover P = 64 with E = 2 (%d), 784 inputs (%d), K = 3 (%d)",
              n_big_population, n_784, n_deep);
    vsml_engine_destroy(&eng);
    TEST_END();
}
