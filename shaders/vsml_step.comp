#version 450
// One dispatch = steps [t0, t0 + n_steps) of a chunk of episodes, one
// workgroup per episode (spec sections 3-5). Push constants:
// VSML_STEP_PC_FIELDS (include/vsml/shader_iface.h, struct vsml_step_pc).
// Phases of a layer update, separated by workgroup barriers:
//   inbox terms U[a], V[b] -> micro ticks of every sub-LSTM -> means of h
//   over a and over b -> message projections F, G.
// State and scratch are written and read back by other invocations of the
// same workgroup within the dispatch, hence `coherent` + memoryBarrierBuffer.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#ifdef VSML_CPU
#extension GL_ARB_gpu_shader_int64 : require // the state stores (STORE_HC)
#endif
#include "vsml/shader_iface.h"
#include "philox.glsl"
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(push_constant) uniform PC { VSML_STEP_PC_FIELDS } pc;

layout(std430, binding = 0) readonly buffer Params { float params[]; };
layout(std430, binding = 1) readonly buffer Layout { uint lay[]; };
layout(std430, binding = 2) readonly buffer Data { float xs[]; };
layout(std430, binding = 3) readonly buffer Stream { int stream[]; }; // [S][T][2]
layout(std430, binding = 4) readonly buffer EpInfo { uint epinfo[]; }; // [R][2], global
layout(std430, binding = 5) coherent buffer State { float st[]; };
// The 16-bit state of the parallel kernel (VSML_STATE_F16 below): h and c
// as pairs of halves, float j of sub-LSTM i in layer sb in the low (j even)
// or high half of word (sb / 2) + (j / 2) AB + i, where the 32-bit layout
// has float sb + j AB + i.
layout(constant_id = 2) const bool VSML_STATE_F16 = false;
layout(std430, binding = 5) coherent buffer StateU { uint stu[]; }; // same memory
#define STP(sb, p, AB, i) stu[((sb) >> 1) + (p) * (AB) + (i)]
layout(std430, binding = 6) coherent buffer Scratch { float sc[]; };
layout(std430, binding = 6) coherent buffer Scratch4 { vec4 sc4[]; }; // same memory, vec4 view
layout(std430, binding = 7) buffer Results { float res[]; }; // [R][4], global
layout(std430, binding = 8) writeonly buffer Logits { float logits_out[]; }; // chunk
layout(std430, binding = 9) writeonly buffer Losses { float loss_out[]; };
// State and scratch accesses: ST/SC/SC4 read, ST_W/SC_W/SC4_W write.
#ifdef VSML_SERIAL
// The serial kernel's lanes are different episodes, so every access has a
// different address per lane: on llvmpipe a buffer access is then a loop
// over the lanes with a store-forwarding stall per float, a texel access a
// gather. Only the invocation itself touches its episode's state and
// scratch; it reads and writes them through the same views. (The cpu
// kernel's scratch accesses through texel views measured no faster.)
#if VSML_N <= 16
// N = 16: the state in the quad layout (QT below), as the cpu kernel's
#define VSML_QUAD_STATE
layout(binding = 12, rgba32f) uniform coherent imageBuffer st_img;
#else
layout(binding = 12, r32f) uniform coherent imageBuffer st_r;
#define ST(i) imageLoad(st_r, int(i)).x
#define ST_W(i, v) imageStore(st_r, int(i), vec4((v)))
#endif
layout(binding = 13, r32f) uniform coherent imageBuffer sc_r;
layout(binding = 14, rgba32f) uniform coherent imageBuffer sc4_r;
#define SC(i) imageLoad(sc_r, int(i)).x
#define SC_W(i, v) imageStore(sc_r, int(i), vec4((v)))
#define SC4(i) imageLoad(sc4_r, int(i))
#define SC4_W(i, v) imageStore(sc4_r, int(i), (v))
#else
#define ST(i) st[i]
#define ST_W(i, v) st[i] = (v)
#define SC(i) sc[i]
#define SC_W(i, v) sc[i] = (v)
#define SC4(i) sc4[i]
#define SC4_W(i, v) sc4[i] = (v)
#endif

const uint N = VSML_N, M = VSML_M, G = VSML_G;
// VSML_SERIAL (a second build of this file): one invocation per episode,
// no barriers, parameters read from the buffer. It wins for small networks,
// whose steps are otherwise dominated by workgroup barriers.
// VSML_N (glslang -DVSML_N=64; 16 by default) is the state size. A block of
// N=64 (85 KiB) does not fit in shared memory, so the parallel kernel then
// also reads the parameters from the buffer (the same address in every
// invocation of a workgroup: cached broadcasts).
#if defined(VSML_SERIAL) || VSML_N > 16 || defined(VSML_CPU)
#define VSML_PARAMS_GLOBAL
#endif
#ifdef VSML_PARAMS_GLOBAL
layout(std430, binding = 0) readonly buffer Params4 { vec4 params4[]; }; // same memory
uint wbase4;
#ifdef VSML_SERIAL
// Each lane of the serial kernel reads its own episode's parameters: on
// llvmpipe a buffer load with a different address per lane is a loop over
// the lanes with a store-forwarding stall per float, a texel fetch is one
// 16-byte load per lane. The examples likewise.
layout(binding = 10, rgba32f) uniform readonly imageBuffer pv_img;
layout(binding = 11, r32f) uniform readonly imageBuffer xs_img;
#define WV(i) imageLoad(pv_img, int(wbase4 + (i)))
#define XS(i) imageLoad(xs_img, int(i)).x
#else
#define WV(i) params4[wbase4 + (i)]
#endif
#if defined(VSML_SERIAL) && VSML_N <= 16
#define VSML_PRIVATE_WH
// The recurrent block W_lstm[2M:2M+N] in private memory: read per lane from
// the buffer once per dispatch instead of 256 gathers per micro tick (only
// for small N: 4N^2 floats per invocation, loaded by a rolled loop, which
// keeps the array in memory: unrolled, it became a thousand SSA values and
// took llvmpipe two and a half minutes to compile).
vec4 whp[VSML_N * VSML_G / 4];
#define WH(j, q) whp[(j) * (G / 4) + (q)]
#endif
#else
// The parameter block in shared memory as vec4s (all part offsets are
// multiples of 4).
shared vec4 Wv[VSML_BLOCK_SIZE / 4];
#define WV(i) Wv[i]
#endif
#define WS(i) WV((i) >> 2)[(i) & 3]
shared float red[2];

#ifdef VSML_CPU
// VSML_CPU (a third build of this file, N = 16, for CPU devices such as
// llvmpipe): the SIMD lanes are sub-LSTMs that share an output b (invocation
// tid serves b = tid % B and a run of cdiv(A, WG / B) inputs a). llvmpipe
// turns every load from a buffer or shared memory that it cannot prove
// uniform into a loop over the lanes (uniform buffers and subgroupBroadcast
// fare no better in Mesa 22.3), and a parameter read per multiply-add made
// the other kernels load-bound. Here each invocation copies the recurrent
// weights W_lstm[2M:2M+N] and layer 0's input row W_lstm[0] into a private
// array once per dispatch; with constant indices (the tick is unrolled by
// the preprocessor) a weight is then one plain vector load per FMA. V[b] and
// the sums of h over a are kept per invocation, so that a sub-LSTM step
// loads only h, c and x.
vec4 whv[(VSML_N + 1) * (VSML_G / 4)];
#define WH(j, q) whv[(j) * (G / 4) + (q)]
#define WX(q) whv[N * (G / 4) + (q)]
// other parameters through the texel view (a gather; a buffer load is a
// loop over the lanes per float, which made the messages of a layer update
// cost as much as several rounds of micro ticks)
#define WU(q) imageLoad(pv_img, int(wbase4 + (q)))
layout(constant_id = 1) const uint CPU_MAX_WG = 64;
shared vec4 hpart[CPU_MAX_WG * (VSML_N / 4)];
// The state buffer (binding 5) as a texel buffer of vec4 quads of a
// sub-LSTM's h (quads 0..3) and c (quads 4..7) in the quad layout (QT
// below): llvmpipe reads an image texel per lane in one go, where a buffer
// load is a loop over the lanes for every float. The examples (binding 2)
// likewise.
#define VSML_QUAD_STATE
layout(binding = 10, rgba32f) uniform coherent imageBuffer st_img;
layout(binding = 11, r32f) uniform readonly imageBuffer xs_img;
layout(binding = 12, rgba32f) uniform readonly imageBuffer pv_img; // the parameters
layout(std430, binding = 6) coherent buffer ScratchU { uint scu[]; }; // the scratch, for atomics
shared uint n_done; // split: workgroups of the episode done before this one
#endif

// Written-out loops for N = 16 (the cpu kernel and the serial kernel's
// tick): llvmpipe does not unroll [[unroll]] loops, and a parameter or
// private-array index that is a loop variable becomes a per-lane gather, so
// every index is made a constant by the preprocessor. The E* macros repeat
// a statement for an index range; each loop level has its own set (a macro
// is not expanded inside its own expansion).
#define E4(X, a) X(a) X(a + 1) X(a + 2) X(a + 3)
#define E16(X) E4(X, 0) E4(X, 4) E4(X, 8) E4(X, 12)
#define F4(X, p, a) X(p, a) X(p, a + 1) X(p, a + 2) X(p, a + 3)
#define F16(X, p) F4(X, p, 0) F4(X, p, 4) F4(X, p, 8) F4(X, p, 12)
#define F8(X, p) F4(X, p, 0) F4(X, p, 4)
#define G4(X, a) X(a) X(a + 1) X(a + 2) X(a + 3)
#define G8(X) G4(X, 0) G4(X, 4)
#define G16(X) G4(X, 0) G4(X, 4) G4(X, 8) G4(X, 12)
#define HJ(v, j) v[(j) >> 2][(j) & 3]
// One micro tick of a sub-LSTM, N = 16 (ZT_TICK), from z0 (inbox terms), h,
// c and the recurrent weights WH(j, q): the 64 gate sums z (16 column quads
// q, each the sum over j of h_j WH(j, q)), then the cells, quad by quad.
#define ZT_FMA(q, j) acc = fma(vec4(HJ(h, j)), WH(j, q), acc);
#define CELL(u) { \
                vec4 ig = sigmoid(z[u] - 5.0); \
                vec4 gg = safe_tanh(z[4 + (u)]); \
                vec4 fg = sigmoid(z[8 + (u)] + 5.0); \
                vec4 og = sigmoid(z[12 + (u)]); \
                vec4 cq = fma(fg, c[u], ig * gg); \
                if (clip) \
                    cq = clamp(cq, -pc.clip, pc.clip); \
                c[u] = cq; \
                hn[u] = og * safe_tanh(cq); }
// The sums advance a quarter of the inputs j at a time. Written as one chain
// of 16 multiply-adds per sum (the same sums in the same order), LLVM runs
// each sum to its end before the next and, 16 h_j and an accumulator being
// more than the 16 AVX2 registers, reloads h_j from the stack for every
// multiply; or it hoists all the products and spills them. Here quarter qq
// reads hb[qq], h[qq] OR-ed with bits that depend on every sum of the
// quarter before and are zero at run time (pc.zero, which the compiler
// cannot fold), so no product of a quarter can start before the last
// quarter is done and its four h_j stay in registers; the cells' c likewise
// waits for all 64 sums (784x10 rollout: -20%; in halves -5%, in eighths
// -8%; one dependency per cell quad of the cells cost 6%).
#define ZT_Q0(q) { vec4 acc = z0[q]; F4(ZT_FMA, q, 0) z[q] = acc; }
#define ZT_FMB(q, j) acc = fma(vec4(HJ(hb, j)), WH(j, q), acc);
#define ZT_Q1(q) { vec4 acc = z[q]; F4(ZT_FMB, q, 4) z[q] = acc; }
#define ZT_Q2(q) { vec4 acc = z[q]; F4(ZT_FMB, q, 8) z[q] = acc; }
#define ZT_Q3(q) { vec4 acc = z[q]; F4(ZT_FMB, q, 12) z[q] = acc; }
#define ZT_ZOR(q) d |= floatBitsToUint(z[q]);
#define ZT_DEP(dm) { uvec4 d = uvec4(pc.zero); E16(ZT_ZOR) dm = (d.x | d.y | d.z | d.w) & pc.zero; }
#define ZT_QUARTER(qq) { uint dm; ZT_DEP(dm) \
                         hb[qq] = uintBitsToFloat(floatBitsToUint(h[qq]) | uvec4(dm)); \
                         E16(ZT_Q##qq) }
#define ZT_CDEP(u) c[u] = uintBitsToFloat(floatBitsToUint(c[u]) | uvec4(dm));
#define ZT_TICK { vec4 hb[4]; E16(ZT_Q0) ZT_QUARTER(1) ZT_QUARTER(2) ZT_QUARTER(3) \
                  { uint dm; ZT_DEP(dm) E4(ZT_CDEP, 0) } E4(CELL, 0) }
// The quad layout of the state (N = 16; the cpu and serial kernels): quad u
// (u < 4: h[4u..4u+3], else c[4(u-4)..]) of sub-LSTM i of the layer whose
// state starts at float sb is texel QT(u, i); quads 2p and 2p + 1 of a
// sub-LSTM are adjacent, so that they are also the 32-byte element PT(p, i).
// Loads go through the texel view st_img (a gather). llvmpipe stores an
// image texel one float at a time (a loop over the lanes per float) and a
// buffer element in one loop over the lanes, so the cpu kernel stores two
// quads at once, as a u64vec4 of their bits (STORE_HC: half the loops of
// vec4 stores, 784x10 rollout -3 to -6%); the serial kernel stores vec4s.
#define QT(u, i) (sb / 4 + ((u) >> 1) * 2 * AB + 2 * (i) + ((u) & 1))
#define PT(p, i) (sb / 8 + (p) * AB + (i))
layout(std430, binding = 5) coherent buffer State4 { vec4 st4[]; }; // same memory
#define LOAD_HC(u) h[u] = imageLoad(st_img, int(QT(u, i))); \
                   c[u] = imageLoad(st_img, int(QT(4 + (u), i)));
#define STORE_HQ(u) st4[QT(u, i)] = h[u]; \
                    st4[QT(4 + (u), i)] = c[u];
#ifdef VSML_CPU
layout(std430, binding = 5) coherent buffer State8 { u64vec4 st8[]; }; // same memory
#define PK2(a, b) packUint2x32(uvec2(floatBitsToUint(a), floatBitsToUint(b)))
#define PK8(qa, qb) u64vec4(PK2(qa.x, qa.y), PK2(qa.z, qa.w), PK2(qb.x, qb.y), PK2(qb.z, qb.w))
// h quads 2p, 2p + 1 and the c quads after them (STORE_HC(0) STORE_HC(1))
#define STORE_HC(p) st8[PT(p, i)] = PK8(h[2 * (p)], h[2 * (p) + 1]); \
                    st8[PT(2 + (p), i)] = PK8(c[2 * (p)], c[2 * (p) + 1]);
#endif

uint tid, WG, ep, st_base, sc_base;

void sync()
{
#ifndef VSML_SERIAL
    memoryBarrierBuffer();
    memoryBarrierShared();
#ifdef VSML_CPU
    memoryBarrierImage(); // the state is written through st_img
#endif
    barrier();
#endif
}

void load_block(uint blk)
{
    uint pbase = ((pc.ep_base + ep) / pc.E) * pc.param_stride + blk * VSML_BLOCK_SIZE;
#ifdef VSML_PARAMS_GLOBAL
    wbase4 = pbase / 4;
#ifdef VSML_PRIVATE_WH
    [[dont_unroll]] for (uint i = 0; i < N * G / 4; i++)
        whp[i] = WV((VSML_OFF_W_LSTM + 2 * M * G) / 4 + i);
#endif
#else
    for (uint i = tid; i < VSML_BLOCK_SIZE / 4; i += WG)
        Wv[i] = vec4(params[pbase + 4 * i], params[pbase + 4 * i + 1], params[pbase + 4 * i + 2],
                     params[pbase + 4 * i + 3]);
    sync();
#endif
}

uint lk(uint k, uint f) { return lay[VSML_LAY_LAYER0 + k * VSML_LAY_STRIDE + f]; }

// Workgroup w of the S that share the episode (split mode; else 0 of 1)
// starts the states of every S-th run of WG sub-LSTMs; workgroup 0 also
// clears the inboxes, the results and the split counter.
void init_episode(uint w, uint S)
{
    uint init_id = epinfo[(pc.ep_base + ep) * 2 + 1];
    for (uint k = 0; k < pc.n_layers; k++) {
        uint A = lk(k, VSML_LAYK_A), B = lk(k, VSML_LAYK_B), AB = A * B;
        uint sb = st_base + lk(k, VSML_LAYK_STATE);
        float scale = inversesqrt(float(A));
        bool zeros = (pc.flags & VSML_FLAG_INIT_ZEROS) != 0;
#ifdef VSML_QUAD_STATE
        // the quad layout (QT): the same numbers as below, with constant
        // indices (a private array with variable indices is a loop over the
        // lanes in llvmpipe)
        for (uint i = w * WG + tid; i < AB; i += S * WG) {
            uvec4 r0 = philox4x32(uvec4(i, k, init_id, VSML_TAG_INIT), uvec2(pc.seed_lo, pc.seed_hi));
            uvec4 r1 = philox4x32(uvec4(i, k | (1u << 8), init_id, VSML_TAG_INIT),
                                  uvec2(pc.seed_lo, pc.seed_hi));
            vec4 c0 = vec4(trunc_normal2(r0.x), trunc_normal2(r0.y), trunc_normal2(r0.z),
                           trunc_normal2(r0.w)) * scale;
            vec4 c1 = vec4(trunc_normal2(r1.x), trunc_normal2(r1.y), trunc_normal2(r1.z),
                           trunc_normal2(r1.w)) * scale;
            c0 = zeros ? vec4(0.0) : c0;
            c1 = zeros ? vec4(0.0) : c1;
            st4[QT(0, i)] = vec4(0.0);
            st4[QT(1, i)] = vec4(0.0);
            st4[QT(2, i)] = vec4(0.0);
            st4[QT(3, i)] = vec4(0.0);
            st4[QT(4, i)] = c0;
            st4[QT(5, i)] = c1;
            st4[QT(6, i)] = vec4(0.0);
            st4[QT(7, i)] = vec4(0.0);
        }
#else
        for (uint i = w * WG + tid; i < AB; i += S * WG) {
            float c[N];
            for (uint j = 0; j < N; j++)
                c[j] = 0.0;
            if (!zeros) {
                // cells 0..N/2-1 random; value j uses word j % 4 of block j / 4
                for (uint q = 0; q < N / 8; q++) {
                    uvec4 r = philox4x32(uvec4(i, k | (q << 8), init_id, VSML_TAG_INIT),
                                         uvec2(pc.seed_lo, pc.seed_hi));
                    for (uint e = 0; e < 4; e++)
                        c[q * 4 + e] = trunc_normal2(r[e]) * scale;
                }
            }
            if (VSML_STATE_F16) {
                for (uint p = 0; p < N / 2; p++) {
                    STP(sb, p, AB, i) = 0u;
                    STP(sb, N / 2 + p, AB, i) = packHalf2x16(vec2(c[2 * p], c[2 * p + 1]));
                }
            } else {
                for (uint j = 0; j < N; j++) {
                    ST_W(sb + j * AB + i, 0.0);
                    ST_W(sb + (N + j) * AB + i, c[j]);
                }
            }
        }
#endif
        if (w != 0)
            continue;
        uint fo = sc_base + lk(k, VSML_LAYK_FWD), bo = sc_base + lk(k, VSML_LAYK_BWD);
        for (uint i = tid; i < A * M; i += WG)
            SC_W(fo + i, 0.0);
        for (uint i = tid; i < B * M; i += WG)
            SC_W(bo + i, 0.0);
    }
    if (w == 0) {
        for (uint i = tid; i < VSML_RES_STRIDE; i += WG)
            res[(pc.ep_base + ep) * VSML_RES_STRIDE + i] = 0.0;
#ifdef VSML_CPU
        if (tid == 0)
            scu[sc_base + lay[VSML_LAY_CNT]] = 0u; // no workgroup done yet (split)
#endif
    }
    sync();
}

// Gate columns are handled in chunks of CQ = 4 column quads per gate (16
// cells, 16 vec4 accumulators): the whole of N = 16, a quarter of N = 64,
// so that no loop body holds more live vectors than N = 16's (a 64-vec4
// body takes llvmpipe minutes to compile). Column quad q of gate gt in chunk
// ch is gt * N/4 + ch * CQ + u.
const uint CQ = 4, NCH = N / (4 * CQ);
#if VSML_N <= 16
#define CH_LOOP [[unroll]]
#else
#define CH_LOOP [[dont_unroll]]
#endif
#define COLQ(gt, ch, u) ((gt) * (N / 4) + (ch) * CQ + (u))

// U[a] = fwd_in[a] . W_lstm[0:M], V[b] = bwd_in[b] . W_lstm[M:2M] + b_lstm.
// Layer 0's inbox is [x_a, 0, ...], so its U is formed inside micro_ticks.
void inbox_terms(uint k, uint A, uint B)
{
    uint uq = (sc_base + lay[VSML_LAY_U]) / 4, vq = (sc_base + lay[VSML_LAY_V]) / 4;
    uint fo = sc_base + lk(k, VSML_LAYK_FWD), bo = sc_base + lk(k, VSML_LAYK_BWD);
    if (k > 0) {
        for (uint a = tid; a < A; a += WG) {
            CH_LOOP for (uint ch = 0; ch < NCH; ch++) {
                vec4 u[4 * CQ];
                [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                    u[r] = vec4(0.0);
                for (uint m = 0; m < M; m++) {
                    float msg = SC(fo + a * M + m);
                    [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                        u[r] += msg * WV((VSML_OFF_W_LSTM + m * G) / 4 + COLQ(r / CQ, ch, r % CQ));
                }
                [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                    SC4_W(uq + a * (G / 4) + COLQ(r / CQ, ch, r % CQ), u[r]);
            }
        }
    }
    for (uint b = tid; b < B; b += WG) {
        CH_LOOP for (uint ch = 0; ch < NCH; ch++) {
            vec4 v[4 * CQ];
            [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                v[r] = WV(VSML_OFF_B_LSTM / 4 + COLQ(r / CQ, ch, r % CQ));
            for (uint m = 0; m < M; m++) {
                float msg = SC(bo + b * M + m);
                [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                    v[r] += msg * WV((VSML_OFF_W_LSTM + (M + m) * G) / 4 + COLQ(r / CQ, ch, r % CQ));
            }
            [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                SC4_W(vq + b * (G / 4) + COLQ(r / CQ, ch, r % CQ), v[r]);
        }
    }
    sync();
}

// The sub-LSTM update of spec section 3, four cells at a time, one chunk of
// 16 cells after another: z[gt * CQ + u] holds the columns of gate gt (i, g,
// f, o) for cells 4(ch * CQ + u) .. +3. The new h of a chunk goes to hn, so
// that every chunk sees the old h.
#ifdef VSML_PRIVATE_WH
// The serial kernel for N = 16: the inbox terms once per sub-LSTM and step,
// then the written-out tick (ZT_TICK), with the recurrent weights in whp.
void micro_ticks(uint k, uint A, uint B, uint ex)
{
    uint AB = A * B;
    uint sb = st_base + lk(k, VSML_LAYK_STATE);
    uint uq = (sc_base + lay[VSML_LAY_U]) / 4, vq = (sc_base + lay[VSML_LAY_V]) / 4;
    bool clip = (pc.flags & VSML_FLAG_CLIP) != 0;
    uint n_u = k == 0 ? 0u : 1u;
    uint i = 0; // this kernel's tid; a do-while as below
    do {
        uint a = i / B, b = i % B;
        vec4 h[4], c[4], hn[4], z0[16], z[16];
        E4(LOAD_HC, 0)
        float x = k == 0 ? XS(ex * pc.dim + min(a, pc.dim - 1)) : 0.0;
#define Z0_XV(q) z0[q] = fma(vec4(x), WV(VSML_OFF_W_LSTM / 4 + (q)), SC4(vq + b * (G / 4) + (q)));
        E16(Z0_XV)
        // U[a] above layer 0 (a loop, not an if: llvmpipe runs both sides of an if)
        for (uint o = 0; o < n_u; o++) {
#define Z0_U(q) z0[q] += SC4(uq + a * (G / 4) + (q));
            E16(Z0_U)
        }
        // a do-while: llvmpipe runs a for loop's body once more, masked,
        // after the last iteration (the engine ensures micro_ticks >= 1)
        uint tick = 0;
        do {
            ZT_TICK
            h = hn;
            tick++;
        } while (tick < pc.micro_ticks);
        E4(STORE_HQ, 0)
        i++;
    } while (i < AB);
}
#else
void micro_ticks(uint k, uint A, uint B, uint ex)
{
    uint AB = A * B;
    uint sb = st_base + lk(k, VSML_LAYK_STATE);
    uint uq = (sc_base + lay[VSML_LAY_U]) / 4, vq = (sc_base + lay[VSML_LAY_V]) / 4;
    bool clip = (pc.flags & VSML_FLAG_CLIP) != 0;
    for (uint i = tid; i < AB; i += WG) {
        uint a = i / B, b = i % B;
        vec4 h[N / 4], c[N / 4], hn[N / 4], z[4 * CQ];
        if (VSML_STATE_F16) {
            for (uint p = 0; p < N / 2; p++) {
                vec2 hv = unpackHalf2x16(STP(sb, p, AB, i));
                vec2 cv = unpackHalf2x16(STP(sb, N / 2 + p, AB, i));
                uint q = p >> 1, e = (p & 1) * 2;
                h[q][e] = hv.x;
                h[q][e + 1] = hv.y;
                c[q][e] = cv.x;
                c[q][e + 1] = cv.y;
            }
        } else {
            for (uint j = 0; j < N; j++) {
                h[j >> 2][j & 3] = ST(sb + j * AB + i);
                c[j >> 2][j & 3] = ST(sb + (N + j) * AB + i);
            }
        }
#ifdef XS
        float x = k == 0 ? XS(ex * pc.dim + a) : 0.0;
#else
        float x = k == 0 ? xs[ex * pc.dim + a] : 0.0;
#endif
        uint tick = 0;
        do { // see the do-while above
            CH_LOOP for (uint ch = 0; ch < NCH; ch++) {
                if (k == 0) {
                    [[unroll]] for (uint r = 0; r < 4 * CQ; r++) {
                        uint q = COLQ(r / CQ, ch, r % CQ);
                        z[r] = x * WV(VSML_OFF_W_LSTM / 4 + q) + SC4(vq + b * (G / 4) + q);
                    }
                } else {
                    [[unroll]] for (uint r = 0; r < 4 * CQ; r++) {
                        uint q = COLQ(r / CQ, ch, r % CQ);
                        z[r] = SC4(uq + a * (G / 4) + q) + SC4(vq + b * (G / 4) + q);
                    }
                }
                // kept as a loop: fully unrolled, this body takes llvmpipe minutes to compile
                for (uint j = 0; j < N; j++) {
                    float hj = h[j >> 2][j & 3];
                    uint wr = (VSML_OFF_W_LSTM + (2 * M + j) * G) / 4;
                    [[unroll]] for (uint r = 0; r < 4 * CQ; r++)
                        z[r] += hj * WV(wr + COLQ(r / CQ, ch, r % CQ));
                }
                [[unroll]] for (uint u = 0; u < CQ; u++) {
                    uint q = ch * CQ + u;
                    vec4 ig = sigmoid(z[u] - 5.0);
                    vec4 gg = safe_tanh(z[CQ + u]);
                    vec4 fg = sigmoid(z[2 * CQ + u] + 5.0);
                    vec4 og = sigmoid(z[3 * CQ + u]);
                    vec4 cq = fg * c[q] + ig * gg;
                    if (clip)
                        cq = clamp(cq, -pc.clip, pc.clip);
                    c[q] = cq;
                    hn[q] = og * safe_tanh(cq);
                }
            }
            h = hn;
            tick++;
        } while (tick < pc.micro_ticks);
        if (VSML_STATE_F16) {
            for (uint p = 0; p < N / 2; p++) {
                uint q = p >> 1, e = (p & 1) * 2;
                STP(sb, p, AB, i) = packHalf2x16(vec2(h[q][e], h[q][e + 1]));
                STP(sb, N / 2 + p, AB, i) = packHalf2x16(vec2(c[q][e], c[q][e + 1]));
            }
        } else {
            for (uint j = 0; j < N; j++) {
                ST_W(sb + j * AB + i, h[j >> 2][j & 3]);
                ST_W(sb + (N + j) * AB + i, c[j >> 2][j & 3]);
            }
        }
    }
    sync();
}
#endif
// F[b] = W_fwd . mean_a h[a,b] + b_fwd; G[a] = W_bwd . mean_b h[a,b] + b_bwd.
// STH(j, i): float j of sub-LSTM i's state in layer sb (h for j < N).
#ifdef VSML_QUAD_STATE
#define STH(j, i) imageLoad(st_img, int(QT((j) >> 2, i)))[(j) & 3]
#else
#define STH(j, i) (VSML_STATE_F16 ? unpackHalf2x16(STP(sb, (j) >> 1, AB, i))[(j) & 1] \
                                  : ST(sb + (j) * AB + (i)))
#endif
void messages(uint k, uint A, uint B)
{
    uint AB = A * B;
    uint sb = st_base + lk(k, VSML_LAYK_STATE);
    uint hf = sc_base + lay[VSML_LAY_HF], hg = sc_base + lay[VSML_LAY_HG];
    for (uint i = tid; i < B * N; i += WG) {
        uint b = i / N, j = i % N;
        float s = 0.0;
        for (uint a = 0; a < A; a++)
            s += STH(j, a * B + b);
        SC_W(hf + i, s / float(A));
    }
    bool need_g = k > 0;
    if (need_g) {
        for (uint i = tid; i < A * N; i += WG) {
            uint a = i / N, j = i % N;
            float s = 0.0;
            for (uint b = 0; b < B; b++)
                s += STH(j, a * B + b);
            SC_W(hg + i, s / float(B));
        }
    }
    sync();
    bool last = k + 1 == pc.n_layers;
    uint dst_f = last ? sc_base + lay[VSML_LAY_OUT] : sc_base + lk(k + 1, VSML_LAYK_FWD);
    for (uint i = tid; i < B * M; i += WG) {
        uint b = i / M, m = i % M;
        if (last && m != 1)
            continue;
        float f = WS(VSML_OFF_B_FWD + m);
        for (uint j = 0; j < N; j++)
            f += SC(hf + b * N + j) * WS(VSML_OFF_W_FWD + j * M + m);
        if (last)
            SC_W(dst_f + b, 100.0 * safe_tanh(f / 100.0));
        else
            SC_W(dst_f + i, f);
    }
    if (need_g) {
        uint dst_g = sc_base + lk(k - 1, VSML_LAYK_BWD);
        for (uint i = tid; i < A * M; i += WG) {
            uint a = i / M, m = i % M;
            float g = WS(VSML_OFF_B_BWD + m);
            for (uint j = 0; j < N; j++)
                g += SC(hg + a * N + j) * WS(VSML_OFF_W_BWD + j * M + m);
            SC_W(dst_g + i, g);
        }
    }
    sync();
}

#ifdef VSML_CPU
// One layer update (inbox terms, micro ticks, messages) of the CPU kernel,
// its loops over parameters and private arrays written out with the E*/F*/G*
// macros above.
#if VSML_N != 16 || VSML_M != 8
#error "the CPU kernel is written out for N = 16 and M = 8"
#endif

// The private weights (a loop with a variable index: the array stays in
// memory instead of becoming a thousand SSA values, which takes LLVM minutes
// to allocate registers for).
void load_whv()
{
    for (uint q = 0; q < N * (G / 4); q++)
        whv[q] = imageLoad(pv_img, int(wbase4 + (VSML_OFF_W_LSTM + 2 * M * G) / 4 + q));
    for (uint q = 0; q < G / 4; q++)
        WX(q) = imageLoad(pv_img, int(wbase4 + VSML_OFF_W_LSTM / 4 + q));
}

// Workgroup w of S runs the micro ticks of the inputs a_lo <= a < a_hi (all
// of them if S = 1), and the messages (S = 1: from the workgroup's sums of
// h; S = split > 1: every workgroup writes its sums to VSML_LAY_HP, and the
// last of them to finish adds them up; returns whether this workgroup did).
// An if with no else: llvmpipe runs its body once either way (masked when
// the condition is false), a for loop of one iteration twice.
bool layer_update_cpu(uint k, uint ex, uint w, uint S)
{
    uint A = lk(k, VSML_LAYK_A), B = lk(k, VSML_LAYK_B), AB = A * B;
    uint R = WG / B; // invocations per output b (the engine ensures WG >= B)
    uint a_len = (A + S - 1) / S, a_lo = min(w * a_len, A), a_hi = min(a_lo + a_len, A);
    uint hp = sc_base + lay[VSML_LAY_HP];
    uint sb = st_base + lk(k, VSML_LAYK_STATE);
    uint fo = sc_base + lk(k, VSML_LAYK_FWD), bo = sc_base + lk(k, VSML_LAYK_BWD);
    bool clip = (pc.flags & VSML_FLAG_CLIP) != 0;
    vec4 hs[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
    // Lanes without work compute on clamped indices and do not store (the
    // control flow of a subgroup stays uniform).
    bool working = tid < R * B;
    uint b = tid % B;
    // V[b] = b_lstm + bwd_in[b] . W_lstm[M:2M], once per layer update
    vec4 zb[16];
#define ZB_INIT(q) zb[q] = WU(VSML_OFF_B_LSTM / 4 + (q));
    E16(ZB_INIT)
#define ZB_FMA(m, q) zb[q] = fma(vec4(msg), WU((VSML_OFF_W_LSTM + (M + (m)) * G) / 4 + (q)), zb[q]);
#define ZB_ROW(m) { float msg = SC(bo + b * M + (m)); F16(ZB_FMA, m) }
    G8(ZB_ROW)
    uint n_it = (a_hi - a_lo + R - 1) / R;
    // Layer 0 (inbox [x_a, 0, ...]: one row, from the private copy) and the
    // upper layers (M message rows) in two copies of the sub-LSTM loop, so
    // that layer 0 has no message loop: llvmpipe runs a loop whose trip
    // count is 0 as one masked pass, which per sub-LSTM cost 5% of a 784x10
    // step (784x10 rollout, 4 episodes, 10 alternating runs: 0.451 ->
    // 0.425 s; it doubles the kernel's compile time, 22 -> 46 s). Each copy
    // is a do-while (a for loop runs its body once more, masked, after the
    // last iteration; the engine ensures micro_ticks >= 1); the copy for
    // the other kind of layer runs one iteration with no live lane.
#define Z0_X(q) z0[q] = fma(vec4(x), WX(q), zb[q]);
#define Z0_FMA(q) z0[q] = fma(vec4(msg), WU(wr + (q)), z0[q]);
#define Z0_LAYER0 float x = imageLoad(xs_img, int(ex * pc.dim + a)).x; \
                  E16(Z0_X)
#define Z0_UPPER E16(Z0_B) \
                 uint m = 0; \
                 do { \
                     float msg = SC(fo + a * M + m); \
                     uint wr = (VSML_OFF_W_LSTM + m * G) / 4; /* uniform: one load per weight */ \
                     E16(Z0_FMA) \
                     m++; \
                 } while (m < M);
#define Z0_B(q) z0[q] = zb[q];
#define HS_ADD(u) hs[u] += h[u];
#define SUB_LOOP(Z0_CODE, n) { \
    uint it = 0; \
    do { \
        uint a = a_lo + (tid / B) * n_it + it; \
        bool live = working && a < a_hi && it < (n); \
        a = live ? a : 0; \
        uint i = a * B + b; \
        vec4 h[4], c[4], hn[4], z0[16], z[16]; \
        E4(LOAD_HC, 0) \
        Z0_CODE \
        uint tick = 0; \
        do { \
            ZT_TICK \
            h = hn; \
            tick++; \
        } while (tick < pc.micro_ticks); \
        if (live) { \
            STORE_HC(0) STORE_HC(1) \
            E4(HS_ADD, 0) \
        } \
        it++; \
    } while (it < (n)); }
    // invocation tid serves the inputs a = (tid / B) * n_it + it: a subgroup
    // walks the state in address order (measured 8% faster than a = tid / B
    // + it * R, whose subgroups each touch every R-th texel)
    SUB_LOOP(Z0_LAYER0, k == 0 ? n_it : 0u)
    SUB_LOOP(Z0_UPPER, k == 0 ? 0u : n_it)
#define HPART(u) hpart[tid * 4 + (u)] = hs[u];
    E4(HPART, 0)
    sync();
    // S > 1: the workgroup's sums of h over its a, for the last workgroup
    if (S > 1 && tid < B) {
        vec4 hw[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
        for (uint r = 0; r < R; r++) {
#define HW_ADD(u) hw[u] += hpart[(r * B + tid) * 4 + (u)];
            E4(HW_ADD, 0)
        }
#define HW_ST(u) SC4_W((hp + (w * B + tid) * N) / 4 + (u), hw[u]);
        E4(HW_ST, 0)
    }
    // G[a] = W_bwd . mean_b h[a,b] + b_bwd (not needed below layer 0)
    if (k > 0) {
        uint dst_g = sc_base + lk(k - 1, VSML_LAYK_BWD);
        float inv = 1.0 / float(B);
        uint n_ga = (a_hi - a_lo + WG - 1) / WG;
        for (uint it = 0; it < n_ga; it++) {
            uint a = min(a_lo + tid + it * WG, A - 1);
            vec4 hg[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
            for (uint b2 = 0; b2 < B; b2++) {
#define HG_ADD(u) hg[u] += imageLoad(st_img, int(QT(u, a * B + b2)));
                E4(HG_ADD, 0)
            }
            // G[a][0..3] in ga, G[a][4..7] in gb: one texel per weight quad
            vec4 ga = WU(VSML_OFF_B_BWD / 4), gb = WU(VSML_OFF_B_BWD / 4 + 1);
#define GO_FMA(j) ga += HJ(hg, j) * inv * WU((VSML_OFF_W_BWD + (j) * M) / 4); \
                  gb += HJ(hg, j) * inv * WU((VSML_OFF_W_BWD + (j) * M) / 4 + 1);
            E16(GO_FMA)
            if (a_lo + tid + it * WG < a_hi) {
                SC4_W((dst_g + a * M) / 4, ga);
                SC4_W((dst_g + a * M) / 4 + 1, gb);
            }
        }
    }
    // S > 1: the last of the episode's workgroups to finish its ticks adds
    // up the sums (the others skip the rest; no dispatch of its own)
    bool reduce = true;
    if (S > 1) {
        sync(); // this workgroup's sums of h and G are written
        if (tid == 0) {
            memoryBarrierBuffer();
            n_done = atomicAdd(scu[sc_base + lay[VSML_LAY_CNT]], 1u);
            memoryBarrierBuffer();
        }
        sync();
        reduce = n_done == S - 1;
        if (reduce && tid == 0)
            scu[sc_base + lay[VSML_LAY_CNT]] = 0u; // every workgroup has arrived
    }
    // F[b] = W_fwd . mean_a h[a,b] + b_fwd from the partial sums of b: the R
    // invocations' (S = 1) or the S workgroups' (S > 1)
    bool last = k + 1 == pc.n_layers;
    if (reduce) {
        uint bb = min(tid, B - 1);
        vec4 hf[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
        // (only the invocations tid < B use hf: the loops of the others
        // are a masked pass each)
        for (uint r = 0; r < (pc.split > 1 || tid >= B ? 0 : R); r++) {
#define HF_ADD(u) hf[u] += hpart[(r * B + bb) * 4 + (u)];
            E4(HF_ADD, 0)
        }
        for (uint w2 = 0; w2 < (pc.split > 1 && tid < B ? pc.split : 0); w2++) {
#define HF_HP(j) HJ(hf, j) += SC(hp + (w2 * B + bb) * N + (j));
            E16(HF_HP)
        }
        float inv = 1.0 / float(A);
        uint dst_f = last ? sc_base + lay[VSML_LAY_OUT] : sc_base + lk(k + 1, VSML_LAYK_FWD);
        // F[b][0..3] in fa, F[b][4..7] in fb: one texel per weight quad
        // (a gather per weight made this block a fifth of a small layer's
        // step)
        vec4 fa = WU(VSML_OFF_B_FWD / 4), fb = WU(VSML_OFF_B_FWD / 4 + 1);
#define FO_FMA(j) fa += HJ(hf, j) * inv * WU((VSML_OFF_W_FWD + (j) * M) / 4); \
                  fb += HJ(hf, j) * inv * WU((VSML_OFF_W_FWD + (j) * M) / 4 + 1);
        E16(FO_FMA)
        if (tid < B && !last) {
            SC4_W((dst_f + tid * M) / 4, fa);
            SC4_W((dst_f + tid * M) / 4 + 1, fb);
        } else if (tid < B) {
            SC_W(dst_f + tid, 100.0 * safe_tanh(fa.y / 100.0)); // the logit: message 1
        }
    }
    sync();
    return reduce;
}
#endif

// Returns whether this workgroup computed the layer's messages (in the cpu
// kernel's split mode, the last workgroup of the episode to finish).
bool layer_update(uint k, uint ex, uint w, uint S)
{
#ifdef VSML_CPU
    return layer_update_cpu(k, ex, w, S);
#else
    if ((pc.flags & VSML_FLAG_PER_LAYER) != 0 && pc.n_layers > 1)
        load_block(k);
    uint A = lk(k, VSML_LAYK_A), B = lk(k, VSML_LAYK_B);
    inbox_terms(k, A, B);
    micro_ticks(k, A, B, ex);
    messages(k, A, B);
    return true;
#endif
}

// Cross-entropy of softmax(y_hat) against y; the error e = softmax - onehot
// (with the label when feed_label) becomes the last layer's bwd inbox.
void loss_and_error(uint t, uint label)
{
    if (tid == 0) {
        uint C = pc.n_classes;
        uint yo = sc_base + lay[VSML_LAY_OUT];
        uint bo = sc_base + lk(pc.n_layers - 1, VSML_LAYK_BWD);
        float mx = SC(yo);
        uint arg = 0;
        for (uint b = 1; b < C; b++) {
            float v = SC(yo + b);
            if (v > mx) {
                mx = v;
                arg = b;
            }
        }
        float sum = 0.0;
        for (uint b = 0; b < C; b++)
            sum += exp(SC(yo + b) - mx);
        float loss = log(sum) + mx - SC(yo + label);
        bool feed = (pc.flags & VSML_FLAG_FEED_LABEL) != 0;
        for (uint b = 0; b < C; b++) {
            float y = b == label ? 1.0 : 0.0;
            float p = exp(SC(yo + b) - mx) / sum;
            SC_W(bo + b * M + 0, p - y);
            SC_W(bo + b * M + 1, feed ? y : 0.0);
            for (uint m = 2; m < M; m++)
                SC_W(bo + b * M + m, 0.0);
            if ((pc.flags & VSML_FLAG_WRITE_LOGITS) != 0)
                logits_out[(ep * pc.T + t) * C + b] = SC(yo + b);
        }
        if ((pc.flags & VSML_FLAG_WRITE_LOSS) != 0)
            loss_out[ep * pc.T + t] = loss;
        uint r = (pc.ep_base + ep) * VSML_RES_STRIDE;
        res[r + VSML_RES_LOSS_SUM] += loss;
        res[r + VSML_RES_LOSS_LAST] = loss;
        res[r + VSML_RES_CORRECT] += arg == label ? 1.0 : 0.0;
        if (!(abs(loss) < 3.0e38) && res[r + VSML_RES_NONFINITE] == 0.0)
            res[r + VSML_RES_NONFINITE] = float(t + 1);
    }
    sync();
}

void zero_last_bwd()
{
    uint bo = sc_base + lk(pc.n_layers - 1, VSML_LAYK_BWD);
    for (uint i = tid; i < pc.n_classes * M; i += WG)
        SC_W(bo + i, 0.0);
    // clear_bwd: the lower layers' inboxes too (their B is the next layer's A)
    if ((pc.flags & VSML_FLAG_CLEAR_BWD) != 0)
        for (uint k = 0; k + 1 < pc.n_layers; k++) {
            uint bk = sc_base + lk(k, VSML_LAYK_BWD), nk = lk(k, VSML_LAYK_B) * M;
            for (uint i = tid; i < nk; i += WG)
                SC_W(bk + i, 0.0);
        }
    sync();
}

void main()
{
    // split > 1 (cpu kernel only): one sweep of one step, or the initial
    // states (n_steps = 0), split workgroups per episode, see VSML_MAX_SPLIT
    bool split = pc.split > 1;
    uint S = split ? pc.split : 1u;
#ifdef VSML_SERIAL
    tid = 0;
    WG = 1;
    ep = gl_GlobalInvocationID.x;
    if (ep >= pc.n_eps)
        return;
#else
    tid = gl_LocalInvocationID.x;
    WG = gl_WorkGroupSize.x;
    ep = gl_WorkGroupID.x / S;
#endif
    uint w = gl_WorkGroupID.x % S;
    st_base = ep * pc.state_stride;
    sc_base = ep * pc.scratch_stride;
    uint s = epinfo[(pc.ep_base + ep) * 2];
    bool per_layer = (pc.flags & VSML_FLAG_PER_LAYER) != 0 && pc.n_layers > 1;
    bool bwd_pass = (pc.flags & VSML_FLAG_BACKWARD_PASS) != 0;

    if (pc.init_state != 0)
        init_episode(w, S);
#ifdef VSML_CPU
    load_block(0);
    if (pc.n_steps > 0) // not for the initial states alone
        load_whv();
#else
    if (!per_layer)
        load_block(0);
#endif
    uint K = pc.n_layers, n_sweep = bwd_pass ? 2 * K : K;
    uint n0 = split ? pc.sweep : 0u, n1 = split ? pc.sweep + 1 : n_sweep;
    bool reduce = true;
    for (uint t = pc.t0; t < pc.t0 + pc.n_steps; t++) {
        uint ex = uint(stream[(s * pc.T + t) * 2]);
        uint label = uint(stream[(s * pc.T + t) * 2 + 1]);
        // one call site for both sweeps: every inlined copy of layer_update
        // costs llvmpipe seconds of compile time
        for (uint n = n0; n < n1; n++) {
            reduce = layer_update(n < K ? n : 2 * K - 1 - n, ex, w, S);
            if (n == K - 1 && reduce)
                loss_and_error(t, label);
        }
        if (bwd_pass && reduce && n1 == n_sweep)
            zero_last_bwd();
    }
}
