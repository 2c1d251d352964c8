#version 450
// ES perturbations (spec section 6) written straight into the population's
// parameter buffer: vector 2j = theta + sigma * eps_j, 2j+1 = theta - sigma * eps_j,
// eps_j[i] = es_noise(seed, step, pair_base + j, i) as in src/common/rng.c.
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
    uint i = gl_GlobalInvocationID.x, j = gl_WorkGroupID.y;
    if (i >= pc.n_params)
        return;
    float eps = es_noise(uvec2(pc.seed_lo, pc.seed_hi), pc.step, pc.pair_base + j, i);
    float d = pc.sigma * eps;
    params[(2 * j) * pc.n_params + i] = theta[i] + d;
    params[(2 * j + 1) * pc.n_params + i] = theta[i] - d;
}
