/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * The same generator is implemented in shaders/philox.glsl, so the host, the
 * CPU reference and every device draw identical bits for identical
 * (key, counter) pairs. Nothing here has global state: all functions are
 * thread-safe. */
#ifndef VSML_RNG_H
#define VSML_RNG_H

#include <stdint.h>

#include "vsml/shader_iface.h" /* VSML_TAG_*: stream tags */

void vsml_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Uniform in the open interval (0, 1) with 23 random bits; exactly
 * representable in float, identical to philox.glsl's u01(). */
float vsml_u01(uint32_t x);

/* Inverse error function, single-precision polynomial (M. Giles, 2010);
 * the shaders use the same formula. */
float vsml_erfinvf(float x);

/* Standard normal truncated to [-2, 2] from one uniform (inverse CDF, as
 * JAX's truncated_normal does): continuous in u, so tiny float differences
 * between devices stay tiny. */
float vsml_trunc_normal2(uint32_t bits);

/* Standard normal number i of ES pair `pair` at step `step`: the noise of
 * spec section 6, identical to the noise of shaders/es_perturb.comp up to
 * float rounding of log/cos. No table is stored. */
float vsml_es_noise(uint64_t seed, uint32_t step, uint32_t pair, uint32_t i);

/* Numbers 2 i2 and 2 i2 + 1 of pair `pair` at once (one Philox block holds
 * both): out[k] == vsml_es_noise(seed, step, pair, 2 * i2 + k). */
void vsml_es_noise2(uint64_t seed, uint32_t step, uint32_t pair, uint32_t i2, float out[2]);

/* A sequential stream on top of Philox, for host-side sampling. */
typedef struct vsml_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int pos;
} vsml_rng;

void vsml_rng_init(vsml_rng *r, uint64_t seed, uint32_t stream, uint32_t tag);
uint32_t vsml_rng_u32(vsml_rng *r);
double vsml_rng_uniform(vsml_rng *r);      /* [0, 1) with 53 bits */
uint32_t vsml_rng_below(vsml_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
double vsml_rng_normal(vsml_rng *r);       /* Box-Muller, double precision */
double vsml_rng_trunc_normal(vsml_rng *r); /* N(0,1) truncated at 2 std (rejection) */

#endif
