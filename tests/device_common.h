/* Shared set-up for the device tests. */
#ifndef VSML_TEST_DEVICE_COMMON_H
#define VSML_TEST_DEVICE_COMMON_H

#include "vsml/engine.h"
#include "vsml/rollout.h"

/* Creates an engine on the default device (validation per VSML_VALIDATION).
 * Exits with 77 (skip) only when the machine has no Vulkan device at all. */
vsml_engine *test_engine(int max_chunk_episodes, int steps_per_dispatch);
vsml_engine *test_engine_kernel(int max_chunk_episodes, int steps_per_dispatch,
                                enum vsml_kernel kernel);

/* Random episodes: a table of 2*T N(0,1) examples, one stream per episode
 * pair, ep_init shared within pairs. Free with test_episodes_free. */
void test_episodes(const vsml_model_config *cfg, int P, int E, int T, uint64_t seed,
                   vsml_episodes *ep);
void test_episodes_free(vsml_episodes *ep);

/* P parameter vectors: fresh init for vector 0, perturbed copies after it. */
float *test_params(const vsml_model_config *cfg, int P, uint64_t seed, float noise);

/* Fails the test (exit 1) if the validation layer reported anything. */
int test_validation_errors(vsml_engine *eng);

#endif
