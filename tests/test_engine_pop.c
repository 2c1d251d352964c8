/* Population invariants on the device: P equal parameter vectors give P
 * identical results; splitting episodes into chunks, and steps into several
 * dispatches or several runs, changes nothing (bitwise); the same for state
 * size N = 64. */
#include <stdlib.h>
#include <string.h>

#include "device_common.h"
#include "test.h"

typedef struct result {
    float *logits, *sum, *correct;
} result;

static enum vsml_kernel g_kernel = VSML_KERNEL_AUTO;

static result run(const vsml_model_config *cfg, const float *params, const vsml_episodes *ep,
                  int max_chunk, int spd, int n_runs)
{
    size_t R = (size_t)ep->P * ep->E, C = (size_t)cfg->sizes[cfg->n_layers];
    result r = {calloc(R * ep->T * C, 4), calloc(R, 4), calloc(R, 4)};
    vsml_engine *eng = test_engine_kernel(max_chunk, spd, g_kernel);
    vsml_pop_shape shape = {.P = ep->P, .E = ep->E, .T = ep->T, .n_examples = ep->n_examples,
                            .n_streams = ep->n_streams, .outputs = VSML_POP_LOGITS};
    vsml_pop *pop = NULL;
    int rc = vsml_pop_create(eng, cfg, &shape, &pop);
    CHECK(rc == 0, "pop create");
    if (rc == 0) {
        if (max_chunk > 0)
            CHECK(vsml_pop_chunks(pop) == (int)((R + max_chunk - 1) / max_chunk),
                  "expected %zu chunks, got %d", (R + max_chunk - 1) / max_chunk,
                  vsml_pop_chunks(pop));
        rc = vsml_pop_set_params(pop, params) || vsml_pop_set_data(pop, ep->x) ||
             vsml_pop_set_episodes(pop, ep->stream, ep->ep_stream, ep->ep_init);
        /* continuing episodes that no run has started is an error */
        CHECK(rc != 0 || vsml_pop_run(pop, ep->seed, 0, 1, false, NULL) != 0,
              "a first run without init succeeded");
        int per = ep->T / n_runs;
        for (int i = 0; i < n_runs && rc == 0; i++) {
            int n = i == n_runs - 1 ? ep->T - i * per : per;
            rc = vsml_pop_run(pop, ep->seed, i * per, n, i == 0, NULL);
        }
        vsml_rollout_out out = {.logits = r.logits, .loss_sum = r.sum, .correct = r.correct};
        CHECK(rc == 0 && vsml_pop_read(pop, &out) == 0, "run");
    }
    vsml_pop_destroy(&pop);
    CHECK(test_validation_errors(eng) == 0, "validation");
    vsml_engine_destroy(&eng);
    return r;
}

static void free_result(result *r)
{
    free(r->logits);
    free(r->sum);
    free(r->correct);
}

/* Different compiled kernels may contract a * b + c into an FMA in
 * different places, so they agree to float rounding, not bit for bit. */
static void near(const result *a, const result *b, size_t R, size_t n_logits, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n_logits; i++) {
        double e = fabs((double)a->logits[i] - b->logits[i]) / fmax(1.0, fabs(b->logits[i]));
        worst = e > worst || isnan(e) ? e : worst;
    }
    CHECK(worst <= 1e-5, "%s: logits differ by %.3g", what, worst);
    for (size_t r = 0; r < R; r++)
        CHECK(fabs(a->sum[r] - b->sum[r]) <= 1e-4 * fmax(1.0, fabs(b->sum[r])),
              "%s: episode %zu loss sum %g vs %g", what, r, a->sum[r], b->sum[r]);
}

static void same(const result *a, const result *b, size_t R, size_t n_logits, const char *what)
{
    CHECK(memcmp(a->logits, b->logits, n_logits * 4) == 0, "%s: logits differ", what);
    CHECK(memcmp(a->sum, b->sum, R * 4) == 0, "%s: loss sums differ", what);
    CHECK(memcmp(a->correct, b->correct, R * 4) == 0, "%s: counts differ", what);
}

/* N = 64 (the cloning state size, its own kernels): chunks, dispatch
 * slices and split runs are bitwise invisible; serial = parallel to float
 * rounding. Small layers: a sub-LSTM step is 16x the work of N = 16. */
static void n64_invariants(void)
{
    int sizes[3] = {5, 3, 2};
    vsml_model_config cfg;
    vsml_model_config_default(&cfg, 2, sizes);
    cfg.state_size = 64;
    cfg.feed_label = true;
    cfg.per_layer_params = true;
    int P = 4, E = 2, T = 12;
    size_t R = (size_t)P * E, C = 2;
    vsml_episodes ep;
    test_episodes(&cfg, P, E, T, 9, &ep);
    float *params = test_params(&cfg, P, 13, 0.1f);
    g_kernel = VSML_KERNEL_AUTO;
    result whole = run(&cfg, params, &ep, 0, 0, 1);
    CHECK(memcmp(whole.logits, whole.logits + E * T * C, T * C * 4) != 0,
          "N=64: different parameter vectors gave identical logits");
    result chunked = run(&cfg, params, &ep, 3, 0, 1);
    same(&whole, &chunked, R, R * T * C, "N=64: chunks of 3 episodes");
    result resumed = run(&cfg, params, &ep, 3, 2, 3);
    same(&whole, &resumed, R, R * T * C, "N=64: 3 runs, chunks of 3, 2 steps per dispatch");
    g_kernel = VSML_KERNEL_SERIAL;
    result serial = run(&cfg, params, &ep, 0, 0, 1);
    g_kernel = VSML_KERNEL_PARALLEL;
    result parallel = run(&cfg, params, &ep, 5, 0, 1);
    near(&serial, &parallel, R, R * T * C, "N=64: serial vs parallel kernel");
    same(&whole, &parallel, R, R * T * C, "N=64: auto (parallel) vs parallel, chunks of 5");
    free_result(&whole);
    free_result(&chunked);
    free_result(&resumed);
    free_result(&serial);
    free_result(&parallel);
    free(params);
    test_episodes_free(&ep);
}

int main(void)
{
    int sizes[3] = {33, 7, 3};
    vsml_model_config cfg;
    vsml_model_config_default(&cfg, 2, sizes);
    cfg.feed_label = true;
    int P = 6, E = 3, T = 40;
    size_t R = (size_t)P * E, C = 3, np = vsml_param_count(&cfg);

    /* 1. Equal vectors, every episode with the same stream and initial state. */
    vsml_episodes ep;
    test_episodes(&cfg, P, E, T, 5, &ep);
    float *params = test_params(&cfg, P, 11, 0.0f);
    uint32_t *es = (uint32_t *)ep.ep_stream, *ei = (uint32_t *)ep.ep_init;
    for (size_t r = 0; r < R; r++) {
        es[r] = 0;
        ei[r] = 4;
    }
    result base = run(&cfg, params, &ep, 0, 0, 1);
    for (size_t r = 1; r < R; r++) {
        CHECK(memcmp(base.logits, base.logits + r * T * C, T * C * 4) == 0,
              "episode %zu differs from episode 0", r);
        CHECK(base.sum[r] == base.sum[0], "episode %zu loss differs", r);
    }
    free_result(&base);

    /* 2. Distinct vectors and streams: chunking and slicing are invisible. */
    for (size_t r = 0; r < R; r++) {
        es[r] = (uint32_t)(r / 2);
        ei[r] = (uint32_t)r;
    }
    free(params);
    params = test_params(&cfg, P, 11, 0.1f);
    result whole = run(&cfg, params, &ep, 0, 0, 1);
    /* the runs must not be trivially equal: vectors really differ */
    CHECK(memcmp(whole.logits, whole.logits + E * T * C, T * C * 4) != 0,
          "different parameter vectors gave identical logits");
    result chunked = run(&cfg, params, &ep, 4, 0, 1);
    same(&whole, &chunked, R, R * T * C, "chunks of 4 episodes");
    result sliced = run(&cfg, params, &ep, 0, 7, 1);
    same(&whole, &sliced, R, R * T * C, "7 steps per dispatch");
    result resumed = run(&cfg, params, &ep, 5, 3, 4);
    same(&whole, &resumed, R, R * T * C, "4 runs, chunks of 5, 3 steps per dispatch");
    /* the two kernels run the same arithmetic in the same order */
    g_kernel = VSML_KERNEL_SERIAL;
    result serial = run(&cfg, params, &ep, 0, 0, 1);
    g_kernel = VSML_KERNEL_PARALLEL;
    result parallel = run(&cfg, params, &ep, 4, 0, 1);
    near(&serial, &parallel, R, R * T * C, "serial vs parallel kernel");
    free_result(&serial);
    free_result(&parallel);
    free_result(&whole);
    free_result(&chunked);
    free_result(&sliced);
    free_result(&resumed);
    free(params);
    (void)np;
    test_episodes_free(&ep);
    n64_invariants();
    TEST_END();
}
