#version 450
// Peak fp32 microbenchmark (in the manner of vkpeak/clpeak): every
// invocation runs VSML_BENCH_ACC independent vec4 FMA chains, an unrolled
// block of BLOCK FMAs per chain and loop iteration, pc.iters iterations.
// FLOP = invocations * iters * BLOCK * ACC * 4 lanes * 2. The loop count
// stays far below llvmpipe's 65,535 loop iterations per invocation (the
// host caps iters). The result is written so that nothing is eliminated.
// Built twice (ACC = 2 and 8): few chains suit CPUs (registers), many suit
// GPUs (latency); the host keeps the faster.
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint iters; float b; float c; } pc;
layout(std430, binding = 0) writeonly buffer Out { vec4 outv[]; };

#ifndef VSML_BENCH_ACC
#define VSML_BENCH_ACC 2
#endif
#define BLOCK 32

void main()
{
    uint id = gl_GlobalInvocationID.x;
    vec4 acc[VSML_BENCH_ACC];
    [[unroll]] for (int k = 0; k < VSML_BENCH_ACC; k++)
        acc[k] = vec4(float(id & 255u) * 1e-3) + vec4(0.0, 0.25, 0.5, 0.75) + float(k) * 0.125;
    vec4 b = vec4(pc.b), c = vec4(pc.c);
    for (uint it = 0; it < pc.iters; it++) {
        [[unroll]] for (int j = 0; j < BLOCK; j++) {
            [[unroll]] for (int k = 0; k < VSML_BENCH_ACC; k++)
                acc[k] = fma(acc[k], b, c);
        }
    }
    vec4 s = vec4(0.0);
    [[unroll]] for (int k = 0; k < VSML_BENCH_ACC; k++)
        s += acc[k];
    outv[id] = s;
}
