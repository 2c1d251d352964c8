#version 450
// ES perturbations (spec section 6) written straight into the population's
// parameter buffer: vector 2j = theta + sigma * eps_j, 2j+1 = theta - sigma * eps_j,
// eps_j[i] = vsml_es_noise(seed, step, pair_base + j, i) of src/common/rng.c;
// an invocation per two parameters (one Philox block).
// Push constants: VSML_PERTURB_PC_FIELDS (struct vsml_perturb_pc).
#extension GL_GOOGLE_include_directive : require
#include "vsml/shader_iface.h"
#include "philox.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { VSML_PERTURB_PC_FIELDS } pc;
layout(std430, binding = 0) readonly buffer Theta { float theta[]; };
layout(std430, binding = 1) writeonly buffer Params { float params[]; };

void main()
{
    // one Philox block holds the noise of parameters 2 i2 and 2 i2 + 1
    uint i2 = gl_GlobalInvocationID.x, i = 2 * i2;
    if (i >= pc.n_params)
        return;
    vec2 th = vec2(theta[i], i + 1 < pc.n_params ? theta[i + 1] : 0.0);
    uint j0 = gl_WorkGroupID.y * VSML_PERTURB_PAIRS;
    uint j1 = min(j0 + VSML_PERTURB_PAIRS, pc.n_pairs);
    for (uint j = j0; j < j1; j++) {
        uvec4 r = philox4x32(uvec4(i2, pc.pair_base + j, pc.step, VSML_TAG_NOISE),
                             uvec2(pc.seed_lo, pc.seed_hi));
        uint plus = (2 * j) * pc.n_params + i, minus = plus + pc.n_params;
        float d = pc.sigma * box_muller(r.xy);
        params[plus] = th.x + d;
        params[minus] = th.x - d;
        if (i + 1 < pc.n_params) {
            d = pc.sigma * box_muller(r.zw);
            params[plus + 1] = th.y + d;
            params[minus + 1] = th.y - d;
        }
    }
}
