/* The VSML model: configuration, the shared parameter vector V_M and its
 * layout (spec section 2), parameter files.
 *
 * N is the sub-LSTM state size (cfg->state_size: 16 by default, 64 for
 * learning-algorithm cloning), M = 8 the message size. V_M for one block is,
 * in this order (row-major):
 *   W_lstm [2M+N][4N]   rows: fwd inbox (M) | bwd inbox (M) | h (N);
 *                       columns: gates i, g, f, o (N each)
 *   b_lstm [4N], W_fwd [N][M], b_fwd [M], W_bwd [N][M], b_bwd [M]
 * With per_layer_params there is one block per layer, layer 0 first.
 * Thread-safety: plain data and pure functions. */
#ifndef VSML_MODEL_H
#define VSML_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsml/safetensors.h"
#include "vsml/shader_iface.h"

#define VSML_MAX_LAYERS 8
#define VSML_MAX_UNITS (1 << 20) /* per layer side, a sanity bound */

enum vsml_loss_type { VSML_LOSS_MEAN = 0, VSML_LOSS_LAST = 1 };
enum vsml_init_mode { VSML_INIT_RANDOM = 0, VSML_INIT_ZEROS = 1 };

typedef struct vsml_model_config {
    int n_layers;                    /* K >= 1 */
    int sizes[VSML_MAX_LAYERS + 1];  /* sizes[0] inputs ... sizes[K] outputs */
    int micro_ticks;                 /* >= 1, default 2 */
    bool feed_label;
    bool backward_pass;
    float clip_state;                /* clip c to [-clip, clip]; 0 = off */
    bool per_layer_params;
    enum vsml_loss_type loss_type;
    enum vsml_init_mode init_mode;
    int state_size;                  /* N; 0 = VSML_N_DEFAULT (16). See vsml_state_size_ok */
    bool clear_bwd;                  /* with backward_pass: after the backward sweep clear
                                        EVERY layer's bwd inbox, not only the last one's, so
                                        that a lower layer's forward sweep sees no stale error
                                        (as C.1's cloning targets assume); default false */
    bool state_f16;                  /* h and c stored as 16-bit floats (IEEE half) between
                                        steps, rounded to nearest; the parallel kernel only;
                                        default false (32-bit) */
} vsml_model_config;

/* The state sizes the engine has kernels for (16 and 64). */
bool vsml_state_size_ok(int N);
/* The configuration's N, with 0 read as the default 16. */
int vsml_state_size(const vsml_model_config *cfg);

/* Offsets (floats) of the named parts inside one parameter block of state
 * size N, and the block size: N=16 gives 0, 2048, 2112, 2240, 2248, 2376,
 * 2384 (the VSML_OFF_* of shader_iface.h); N=64 a block of 21776 floats.
 * Every offset is a multiple of 4 for N a multiple of 4. */
typedef struct vsml_param_layout {
    int N, M, G; /* state, message and gate (4N) sizes */
    size_t w_lstm, b_lstm, w_fwd, b_fwd, w_bwd, b_bwd, block;
} vsml_param_layout;
void vsml_param_layout_of(int N, vsml_param_layout *out);

/* Defaults of spec sections 2-5 for the given layer sizes (n_layers+1 values). */
void vsml_model_config_default(vsml_model_config *cfg, int n_layers, const int *sizes);

/* The options every front end (CLI flags, training config files) sets, by
 * name: init "random" | "zeros", loss "mean" | "last" (NULL = default).
 * Fills cfg from the defaults and checks it; one clear error on failure. */
typedef struct vsml_model_opts {
    int micro_ticks;
    bool feed_label, backward_pass, per_layer_params;
    float clip_state;
    const char *init, *loss;
    int state_size; /* N; 0 = default (16) */
    bool clear_bwd;
    bool state_f16;
} vsml_model_opts;
int vsml_model_config_make(vsml_model_config *cfg, int n_layers, const int *sizes,
                           const vsml_model_opts *o);

/* Checks every field; logs one error listing what is wrong. */
int vsml_model_config_check(const vsml_model_config *cfg);

/* Block offsets: vsml_param_layout_of(vsml_state_size(cfg), ...). */

int vsml_param_blocks(const vsml_model_config *cfg);
size_t vsml_param_count(const vsml_model_config *cfg);

/* Fresh parameters (truncated normal weights, zero biases), deterministic in
 * seed. out has vsml_param_count(cfg) floats. */
void vsml_params_init(const vsml_model_config *cfg, uint64_t seed, float *out);

/* Views of params as the named tensors of a parameter file (data borrowed);
 * returns their number (6 per block), at most VSML_PARAM_TENSORS_MAX. */
#define VSML_PARAM_TENSORS_MAX (VSML_MAX_LAYERS * 6)
int vsml_params_tensors(const vsml_model_config *cfg, const float *params, vsml_tensor *out);

/* Parameter files (safetensors): one tensor per named block of section 2
 * ("W_lstm", ... or "layer0.W_lstm", ... with per-layer blocks), metadata
 * with N ("N" and "state_size"), M and the number of blocks. */
int vsml_params_save(const char *path, const vsml_model_config *cfg, const float *params,
                     int n_extra_meta, const char *const *extra_meta_kv);
/* Loads into a malloc'ed vector; checks the file against cfg (block count,
 * N, M, every tensor's shape) and reports one clear error on mismatch. */
int vsml_params_load(const char *path, const vsml_model_config *cfg, float **out);
/* The state size N a parameter file was made with (16 for files without
 * the key), so that front ends can take N from the file; -1 and one error
 * if the file cannot be read or N is not supported. */
int vsml_params_file_state_size(const char *path);
/* The same checks on a file already parsed (`path` names it in errors). */
int vsml_params_from_st(const vsml_st *st, const char *path, const vsml_model_config *cfg,
                        float **out);

/* Total sub-LSTMs of the network (sum over layers of A_k * B_k). */
size_t vsml_model_sub_lstms(const vsml_model_config *cfg);

#endif
