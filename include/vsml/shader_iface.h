/* Constants and push-constant layouts shared by the host (C) and the shaders
 * (GLSL). Every push-constant block is a list of 32-bit fields mirrored by a
 * C struct whose size is checked against 128 bytes (the guaranteed minimum
 * of maxPushConstantsSize). */
#ifndef VSML_SHADER_IFACE_H
#define VSML_SHADER_IFACE_H

/* VSML_N is the sub-LSTM state size the shader is compiled for (glslang
 * -DVSML_N=64 builds the N=64 variants); 16, the default, elsewhere. Host
 * code takes N from the model configuration and the part offsets from
 * vsml_param_layout_of (model.h), never from these macros. */
#ifndef VSML_N
#define VSML_N 16 /* sub-LSTM state size */
#endif
#define VSML_N_DEFAULT 16
#define VSML_N_MAX 64
#define VSML_M 8  /* message size */
#define VSML_G (4 * VSML_N) /* gate pre-activations */

#define VSML_FLAG_FEED_LABEL 1u
#define VSML_FLAG_BACKWARD_PASS 2u
#define VSML_FLAG_PER_LAYER 4u
#define VSML_FLAG_CLIP 8u
#define VSML_FLAG_WRITE_LOGITS 16u
#define VSML_FLAG_WRITE_LOSS 32u
#define VSML_FLAG_INIT_ZEROS 64u
#define VSML_FLAG_CLEAR_BWD 128u /* after the backward sweep clear every layer's bwd inbox */

#define VSML_SHADER_MAX_LAYERS 8

/* Philox stream tags: the 4th counter word, so that uses never collide. */
#define VSML_TAG_INIT 0x1u  /* initial cell states */
#define VSML_TAG_NOISE 0x2u /* ES perturbations */
#define VSML_TAG_DATA 0x3u  /* host-side data sampling */
#define VSML_TAG_PARAM 0x4u /* parameter initialisation */

/* Offsets (floats) of the named parts inside one parameter block of state
 * size VSML_N (the same formulas as vsml_param_layout_of). */
#define VSML_OFF_W_LSTM 0
#define VSML_OFF_B_LSTM ((2 * VSML_M + VSML_N) * VSML_G)
#define VSML_OFF_W_FWD (VSML_OFF_B_LSTM + VSML_G)
#define VSML_OFF_B_FWD (VSML_OFF_W_FWD + VSML_N * VSML_M)
#define VSML_OFF_W_BWD (VSML_OFF_B_FWD + VSML_M)
#define VSML_OFF_B_BWD (VSML_OFF_W_BWD + VSML_N * VSML_M)
#define VSML_BLOCK_SIZE (VSML_OFF_B_BWD + VSML_M) /* 2384 for N=16 */

/* The layout buffer (binding 1): VSML_LAY_* global scratch offsets, then
 * per layer k at VSML_LAY_LAYER0 + k * VSML_LAY_STRIDE the fields below. */
#define VSML_LAY_U 0      /* inbox terms U [A][G] (largest layer) */
#define VSML_LAY_V 1      /* inbox terms V [B][G] */
#define VSML_LAY_HF 2     /* mean over a of h: [B][N] */
#define VSML_LAY_HG 3     /* mean over b of h: [A][N] */
#define VSML_LAY_OUT 4    /* outputs y_hat of the current step [C] */
#define VSML_LAY_HP 5     /* cpu kernel, split episodes: sums of h over each
                           * workgroup's a [VSML_MAX_SPLIT][B][N] */
#define VSML_LAY_CNT 6    /* cpu kernel, split episodes: workgroups done with
                           * the current layer update (a uint) */
/* cpu kernel: at most this many workgroups share an episode (push constant
 * split > 1: a dispatch runs one layer update, the micro ticks with the
 * episode's inputs a divided among split workgroups, then the messages and
 * the loss in the last of them to finish; or, with n_steps = 0, the initial
 * states, each of the split workgroups a share of the sub-LSTMs) */
#define VSML_MAX_SPLIT 8
#define VSML_LAY_LAYER0 8
#define VSML_LAY_STRIDE 8
#define VSML_LAYK_A 0
#define VSML_LAYK_B 1
#define VSML_LAYK_STATE 2 /* h [N][A*B] then c [N][A*B] */
#define VSML_LAYK_FWD 3   /* fwd inbox [A][M] */
#define VSML_LAYK_BWD 4   /* bwd inbox [B][M] */
#define VSML_LAY_SIZE (VSML_LAY_LAYER0 + VSML_SHADER_MAX_LAYERS * VSML_LAY_STRIDE)

/* Per-episode results (binding 7): [R][VSML_RES_STRIDE] floats. */
#define VSML_RES_LOSS_SUM 0
#define VSML_RES_LOSS_LAST 1
#define VSML_RES_CORRECT 2
#define VSML_RES_NONFINITE 3 /* first step (1-based) with a non-finite loss, 0 if none */
#define VSML_RES_STRIDE 4

#ifdef GL_core_profile
#define VSML_SU32 uint
#define VSML_SF32 float
#else
#include <stdint.h>
#define VSML_SU32 uint32_t
#define VSML_SF32 float
#endif

/* vsml_step.comp: one dispatch runs steps [t0, t0 + n_steps) of a chunk of
 * episodes (one workgroup each). Per-layer sizes and scratch offsets live in
 * the layout buffer (binding 1), not here. */
#define VSML_STEP_PC_FIELDS \
    VSML_SU32 t0;            \
    VSML_SU32 n_steps;       \
    VSML_SU32 T;             \
    VSML_SU32 ep_base;       \
    VSML_SU32 n_layers;      \
    VSML_SU32 micro_ticks;   \
    VSML_SU32 flags;         \
    VSML_SF32 clip;          \
    VSML_SU32 seed_lo;       \
    VSML_SU32 seed_hi;       \
    VSML_SU32 E;             \
    VSML_SU32 n_classes;     \
    VSML_SU32 dim;           \
    VSML_SU32 state_stride;  \
    VSML_SU32 scratch_stride;\
    VSML_SU32 param_stride;  \
    VSML_SU32 init_state;    \
    VSML_SU32 n_eps;         \
    VSML_SU32 split;         \
    VSML_SU32 sweep;         \
    VSML_SU32 zero; /* always 0 (vsml_step.comp, ZT_TICK) */

/* es_perturb.comp: dispatch (ceil(n_params / (2 wg)), ceil(pairs /
 * VSML_PERTURB_PAIRS), 1): an invocation per two parameters and
 * VSML_PERTURB_PAIRS pairs. */
#define VSML_PERTURB_PAIRS 8
#define VSML_PERTURB_PC_FIELDS \
    VSML_SU32 n_params;        \
    VSML_SU32 n_pairs;         \
    VSML_SU32 seed_lo;         \
    VSML_SU32 seed_hi;         \
    VSML_SU32 step;            \
    VSML_SU32 pair_base;       \
    VSML_SF32 sigma;

#endif
