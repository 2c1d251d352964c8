/* The CPU reference: the executable specification of spec sections 3-5 in
 * double precision, used by the tests and the benchmark's correctness gate.
 * Thread-safety: reentrant. */
#ifndef VSML_REF_H
#define VSML_REF_H

#include "vsml/rollout.h"

/* params: [P][vsml_param_count(cfg)]. Runs all R episodes for T steps. */
int vsml_ref_rollout(const vsml_model_config *cfg, const float *params,
                     const vsml_episodes *ep, const vsml_rollout_out *out);

/* Initial cell value j of sub-LSTM item i (= a * B + b) of layer k, for
 * initial state number init_id (the device computes the same). */
float vsml_init_cell(uint64_t seed, uint32_t init_id, int k, int i, int j, int fan_in);

/* x rounded to the nearest IEEE half-precision value (ties to even;
 * subnormals kept, infinity from 65520 on), as a 16-bit state (state_f16)
 * stores h and c between steps on a device that converts so (lavapipe
 * does; the shader requests no rounding mode, which Vulkan leaves to the
 * implementation). */
double vsml_round_half(double x);

#endif
