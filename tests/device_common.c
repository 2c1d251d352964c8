#include <stdio.h>
#include <stdlib.h>

#include "device_common.h"
#include "vk/vk.h"
#include "vsml/log.h"
#include "vsml/rng.h"

vsml_engine *test_engine(int max_chunk_episodes, int steps_per_dispatch)
{
    return test_engine_kernel(max_chunk_episodes, steps_per_dispatch, VSML_KERNEL_AUTO);
}

vsml_engine *test_engine_kernel(int max_chunk_episodes, int steps_per_dispatch,
                                enum vsml_kernel kernel)
{
    enum vsml_log_level lv = vsml_log_get_level();
    vsml_log_set_level((enum vsml_log_level)-1);
    FILE *null = fopen("/dev/null", "w");
    int n = vk_list_devices(null);
    fclose(null);
    vsml_log_set_level(lv);
    if (n <= 0) {
        fprintf(stderr, "no Vulkan device: skipping\n");
        exit(77);
    }
    vsml_engine_params p = {.max_chunk_episodes = max_chunk_episodes,
                            .steps_per_dispatch = steps_per_dispatch, .kernel = kernel};
    vsml_engine *eng;
    if (vsml_engine_create(&eng, &p) != 0) {
        fprintf(stderr, "engine creation failed\n");
        exit(1);
    }
    return eng;
}

void test_episodes(const vsml_model_config *cfg, int P, int E, int T, uint64_t seed,
                   vsml_episodes *ep)
{
    int R = P * E, D = cfg->sizes[0], C = cfg->sizes[cfg->n_layers];
    int nex = 2 * T, S = (R + 1) / 2;
    vsml_rng r;
    vsml_rng_init(&r, seed, 0, VSML_TAG_DATA);
    float *x = malloc(sizeof(float) * (size_t)nex * D);
    int32_t *st = malloc(sizeof(int32_t) * (size_t)S * T * 2);
    uint32_t *es = malloc(sizeof(uint32_t) * (size_t)R), *ei = malloc(sizeof(uint32_t) * (size_t)R);
    for (size_t i = 0; i < (size_t)nex * D; i++)
        x[i] = (float)vsml_rng_normal(&r);
    for (size_t i = 0; i < (size_t)S * T; i++) {
        st[2 * i] = (int32_t)vsml_rng_below(&r, (uint32_t)nex);
        st[2 * i + 1] = (int32_t)vsml_rng_below(&r, (uint32_t)C);
    }
    for (int i = 0; i < R; i++) {
        es[i] = (uint32_t)(i / 2);
        ei[i] = (uint32_t)(i / 2) * 7u + 3u;
    }
    *ep = (vsml_episodes){.P = P, .E = E, .T = T, .x = x, .n_examples = nex, .n_streams = S,
                          .stream = st, .ep_stream = es, .ep_init = ei, .seed = seed * 31 + 5};
}

void test_episodes_free(vsml_episodes *ep)
{
    free((void *)ep->x);
    free((void *)ep->stream);
    free((void *)ep->ep_stream);
    free((void *)ep->ep_init);
}

float *test_params(const vsml_model_config *cfg, int P, uint64_t seed, float noise)
{
    size_t n = vsml_param_count(cfg);
    float *p = malloc(sizeof(float) * n * (size_t)P);
    vsml_params_init(cfg, seed, p);
    vsml_rng r;
    vsml_rng_init(&r, seed, 99, VSML_TAG_NOISE);
    for (int i = 1; i < P; i++)
        for (size_t j = 0; j < n; j++)
            p[(size_t)i * n + j] = p[j] + noise * (float)vsml_rng_normal(&r);
    return p;
}

int test_validation_errors(vsml_engine *eng)
{
    int n = vsml_engine_validation_errors(eng);
    if (n)
        fprintf(stderr, "FAIL: %d validation-layer error(s)\n", n);
    return n;
}
