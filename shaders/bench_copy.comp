#version 450
// Bandwidth microbenchmark: dst = src over pc.n vec4s, grid-stride loop.
// Bytes moved = 2 * 16 * n (one read and one write per vec4). The host picks
// the dispatch so that each invocation loops far fewer than llvmpipe's
// 65,535 times.
layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { uint n; } pc;
layout(std430, binding = 0) readonly buffer Src { vec4 src[]; };
layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };

void main()
{
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride)
        dst[i] = src[i];
}
