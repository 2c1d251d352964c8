/* Learning-algorithm cloning (paper appendix B.1 and C.1, spec section 9):
 * the shared sub-LSTM V_M is trained by ordinary gradient descent (Adam) to
 * imitate backpropagation in one dense layer, so that a VSML network run with
 * these parameters learns online with no gradient computed anywhere.
 *
 * The targets (our design; the authors did not release this code). A
 * sub-LSTM (a, b) imitates one weight w and one bias b of a dense layer
 * y_b = sum_a tanh(x_a) w_ab + b_b:
 *
 *   storage   w/4 and b/4 live in two CELL dimensions c[w_dim], c[b_dim]
 *             (defaults 0 and N/2: at the start of an episode the engine
 *             draws the first N/2 cells from a truncated normal and zeroes
 *             the others, so w starts small and random and b at zero, as a
 *             dense layer is initialised). c, not h, because the forget gate
 *             (offset +5) keeps cells by default and the state clip of
 *             [-4, 4] applies to c; the sub-LSTM reads them through
 *             h = o * tanh(c) at its next tick. The scale 4 lets |w| reach 16
 *             inside the clip (C.1, "bounded states").
 *   forward   fwd inbox [x, 0, ...], bwd inbox 0 (the engine clears the last
 *             layer's error before the forward sweep). After the forward
 *             sweep the forward message must carry tanh(x) w + b in
 *             channels 0 and 1 (channel 1 is read as the output of the last
 *             layer, channel 0 as the input x of the next layer).
 *   backward  fwd inbox [x, 0, ...], bwd inbox [e, 0, ...]. After the
 *             backward sweep the backward message must carry in channel 0
 *             the error of the input, e w (1 - tanh(x)^2), and the cells must
 *             hold w' = w - lr tanh(x) e and b' = b - lr_b e (scaled by 1/4).
 *
 * That is exactly one step of the engine's backward_pass mode (spec section
 * 5): a forward sweep with micro_ticks sub-LSTM updates, then the reverse
 * sweep with the error, micro_ticks updates again. The cloned parameters are
 * therefore meant to run with backward_pass = true, clip_state = 4 and the
 * micro_ticks they were cloned with (see assets/cloned.cfg).
 *
 * Two micro ticks per sweep (the default): in one tick a cell changes by
 * i * g with i >= 0 a sigmoid and g a tanh of linear functions of (x, e, h),
 * which cannot take the sign of the product tanh(x) e (its zero set is two
 * axes, g's a line); with two ticks the first tick's h is a hidden layer
 * whose features the second tick combines. Measured: with one tick the
 * w-update error stayed near the size of the update itself.
 *
 * Initialisation (vsml_clone_opts.integrators): the w and b cells start
 * with forget-gate bias +5 (f = sigmoid(10)) and input-gate bias +5
 * (i = 1/2), so that they keep their value and can be written; with the
 * plain initialisation the w update was learnt about 6x slower.
 *
 * Differences from C.1, on purpose: C.1 freezes the state during the forward
 * evaluation; our engine always commits the state, so the loss is taken
 * over the forward sweep followed by the backward sweep from the state the
 * forward sweep produced, and only the w and b cells after the backward
 * sweep are targets ("only the two weight/bias dimensions kept"): every
 * other cell is free, and the sub-LSTM may use it (e.g. to remember tanh(x)
 * between the sweeps).
 *
 * Averaging. VSML averages messages over a (spec section 4) where a dense
 * layer sums, so the cloned network computes y_b = gain * mean_a(tanh(x_a)
 * w_ab + b_ab): the dense layer it imitates has weights gain * w / A and
 * bias gain * mean_a b_ab. The rule w -= lr tanh(x) e then moves a logit by
 * about gain * lr * mean_a(tanh(x_a)^2) * e per example, whatever A is: a
 * normalised SGD (like normalised LMS), and the same learner serves any
 * layer width. With gain 1 and lr 1 that step was far too small for MNIST
 * (online accuracy 0.29 after 2000 examples against 0.77 for SGD); online
 * SGD at lr 0.01 on 784 normalised pixels moves a logit by about 2.4 e, so
 * gain 8 and lr 1 (step about 2.4 e on MNIST) keep |w| changes of at most 1
 * per example, well inside the cell clip (|w| <= 16). The bias, shared
 * by the A cells of an output, gets lr_b = lr / 8 (a step of about e).
 * Backward messages are averaged over b too: the error reaching layer k-1
 * is A / (gain * B) times the dense layer's.
 *
 * Training (C.1): states come from a buffer; each Adam step draws a batch
 * (64) of states, runs one network step (forward and backward sweep) on
 * random x and e, back-propagates the squared target errors through it by
 * hand (no autodiff library), and appends the new states (clipped to
 * [-4, 4]) to the buffer in place of random old ones. A fraction of every
 * batch is fresh initial states, so that the first steps of an episode are
 * covered. Batch averaging (C.1): each group of `group` consecutive batch
 * entries shares one start state, and the state appended to the buffer
 * carries the group's mean of the new w and b, as a batch of SGD would.
 * Deterministic for a seed (Philox streams; sums in a fixed order).
 *
 * Curriculum (B.1). Stage 1 is the shallow targets above. A deep network
 * (e.g. 784x16x10) needs three things besides (measured with `vsml-vk eval
 * --cpu --probe`, which compares every layer's messages and updates with
 * the network the cells imitate; assets/cloned.md):
 *  - clear_bwd (model option): in the engine's backward_pass mode a lower
 *    layer's forward sweep otherwise sees the previous step's backward
 *    message in its bwd inbox, which the targets assume to be 0 (C.1 zeroes
 *    it; `stale` trains with a stale error there instead, which hurt);
 *  - vsml_clone_prune: only channel 0 of each inbox is read and only the
 *    target channels are sent; unpruned, the hidden layer's messages carried
 *    junk in channels 2-7 (RMS 1-2) into the upper layer;
 *  - per-layer forward gains (vsml_clone_per_layer: the same sub-LSTM, the
 *    hidden layer's forward head scaled, gains 2 and 8): with gain 8 in the
 *    hidden layer its messages (the upper layer's inputs x) grew to RMS 4-20,
 *    far outside the x ~ N(0, 1.5^2) the clone was trained on, and its
 *    forward error reached 50-80%; the imitated network itself also learns
 *    better with gain 2 below (MNIST 784x16x10: 0.67 against 0.62).
 * Stages 2 and 3 then train on what a deep network shows its sub-LSTMs:
 * vsml_cpu_rollout_probe records start states and inboxes in a deep rollout
 * on real data, with the lower layers' errors from the imitated ("ground
 * truth") network (stage 2, gt_errors) or from the VSML layer above (stage
 * 3), and a fraction rec_frac of each batch is drawn from those records
 * (vsml-vk clone --deep-rounds), in rounds with the current parameters.
 * Measured: these rounds did not improve the 2000-step meta-test (stage 3
 * on long episodes diverged); the shipped two-layer learner is a stage-1
 * clone without bias (no_bias), pruned, with gains 2 and 8. Numbers in
 * assets/cloned.md.
 *
 * Thread-safety: all functions are reentrant. */
#ifndef VSML_CLONE_H
#define VSML_CLONE_H

#include <stddef.h>
#include <stdint.h>

/* ---- parameter layout for a state size N (spec section 2), M = 8 ---- */

typedef struct vsml_clone_layout {
    int N, M, G, rows;              /* G = 4N gates, rows = 2M + N */
    size_t w_lstm, b_lstm, w_fwd, b_fwd, w_bwd, b_bwd, total;
} vsml_clone_layout;

void vsml_clone_layout_make(int N, vsml_clone_layout *L);

/* ---- one sub-LSTM tick and its hand-derived gradient (double) ---- */

/* Everything the backward pass of one tick needs. Arrays have N (gates:
 * 4N, input: rows) entries; allocate with vsml_clone_tick_alloc. */
typedef struct vsml_clone_tick {
    double *in;             /* [rows]: fwd inbox, bwd inbox, previous h */
    double *c_prev;         /* [N] */
    double *gi, *gg, *gf, *go; /* gate activations after the offsets */
    double *tc;             /* tanh(c) */
    double *c, *h;          /* new state [N] */
    unsigned char *clipped; /* 1 where c was clipped (gradient 0) */
} vsml_clone_tick;

int vsml_clone_tick_alloc(vsml_clone_tick *t, int N, int M);
void vsml_clone_tick_free(vsml_clone_tick *t);

/* c, h <- LSTM(fin, bin, h_prev, c_prev) of spec section 3, with c clipped to
 * [-clip, clip] when clip > 0; fills t. */
void vsml_clone_tick_fwd(const vsml_clone_layout *L, const double *p, const double *fin,
                         const double *bin, const double *h_prev, const double *c_prev,
                         double clip, vsml_clone_tick *t);

/* Given dL/dh and dL/dc of the new state (dh, dc; both read only),
 * accumulates dL/dp into gp and writes dL/d(inputs): dfin, dbin [M] (may be
 * NULL), dh_prev, dc_prev [N]. */
void vsml_clone_tick_bwd(const vsml_clone_layout *L, const double *p, const vsml_clone_tick *t,
                         const double *dh, const double *dc, double *gp, double *dfin,
                         double *dbin, double *dh_prev, double *dc_prev);

/* A linear message head: msg[m] = b[m] + sum_j h[j] W[j][m] (off_w, off_b:
 * layout offsets of the forward or backward head), and its gradient
 * (accumulates into gp and dh). */
void vsml_clone_head_fwd(const vsml_clone_layout *L, const double *p, size_t off_w,
                         size_t off_b, const double *h, double *msg);
void vsml_clone_head_bwd(const vsml_clone_layout *L, const double *p, size_t off_w,
                         const double *h, const double *dmsg, double *gp, double *dh);

/* ---- one network step of one sub-LSTM, its targets and loss ---- */

#define VSML_CLONE_MAX_LAYERS 8

typedef struct vsml_clone_opts {
    int N;              /* state size (64) */
    int micro_ticks;    /* sub-LSTM ticks per sweep (2; see below) */
    int w_dim, b_dim;   /* cells holding w/4 and b/4 (0 and N/2) */
    double scale;       /* 4: w and b are stored divided by this */
    double clip;        /* 4: cell clip, in training and at meta-test */
    double lr_target;   /* lr of the imitated SGD rule for w (1) */
    double lr_bias;     /* ... and for b (0.125) */
    double gain;        /* forward message = gain * (tanh(x) w + b) (8) */
    double init_gain;   /* gain the init parameters were cloned with; the
                           forward head is rescaled by gain / init_gain (0:
                           no rescaling) */
    double x_std;       /* random inputs: x ~ N(0, x_std^2) */
    double x_wide;      /* ... with this probability N(0, (6 x_std)^2) (0) */
    double w_std;       /* fresh states: w ~ N(0, w_std^2); b ~ N(0, (w_std/2)^2) */
    double state_weight;/* weight of the cell targets (in w units) in the loss */
    double bwd_weight;  /* weight of the backward-message target */
    /* training */
    int steps, batch, group, buffer;
    double fresh;       /* fraction of each batch drawn as fresh states */
    double stale;       /* probability that the forward sweep's backward
                           inbox carries a stale error (as a lower layer's
                           does in a deep network) instead of 0 (0) */
    double adam_lr;     /* decayed by cosine to adam_lr / 10 */
    uint64_t seed;
    int log_every;      /* progress line every log_every steps (0: none) */
    int threads;        /* worker threads (1 = none) */
    int integrators;    /* fresh init: the w and b cells' forget gate biased to
                           sigmoid(10) and input gate to 1/2 (1) */
    /* deep networks: the forward gain of layer k (0: gain). Cloning always
     * uses gain; a parameter file for a deep network has one block per
     * layer (per_layer_params) whose forward heads are rescaled to these
     * gains (vsml_clone_per_layer). */
    double layer_gain[VSML_CLONE_MAX_LAYERS];
    int n_layer_gains;
    /* stages 2 and 3 (B.1): samples recorded in deep rollouts
     * (vsml_cpu_rollout_probe); a fraction rec_frac of each batch's groups
     * is drawn from them (start state and channel 0 of the inboxes it saw;
     * every member of such a group a different record) instead of random
     * states and data. NULL / 0: none. */
    const struct vsml_clone_rec *recs;
    size_t n_recs;
    double rec_frac;
    /* 1: the imitated layer has no bias: forward target gain tanh(x) w, no
     * target on the b_dim cell (free like the others). The ideal networks
     * learn better without the bias rule (measured in assets/cloned.md),
     * and a kept-but-unused b cell drifted (RMS 1.5 after 2000 steps). */
    int no_bias;
} vsml_clone_opts;

/* The forward gain of layer k. */
double vsml_clone_gain_of(const vsml_clone_opts *o, int k);

/* One block per layer from a cloned block (layout of o->N): block k is
 * `block` with the forward head (W_fwd and b_fwd, hence the forward
 * message) scaled by vsml_clone_gain_of(o, k) / o->gain. out has n_layers
 * blocks. The sub-LSTM is the same in every layer. */
void vsml_clone_per_layer(const vsml_clone_opts *o, int n_layers, const float *block, float *out);

#define VSML_CLONE_DEFAULT_LR_TARGET 1.0
void vsml_clone_opts_default(vsml_clone_opts *o);
/* The defaults with the targets a parameter file written by vsml-vk clone
 * names in its metadata (N, micro_ticks, w_dim, b_dim, scale, clip,
 * lr_target, lr_bias, gain; files before clone_gain existed: gain 1,
 * lr_bias = lr_target). -1 and one error if the file cannot be read. */
int vsml_clone_opts_from_file(const char *path, vsml_clone_opts *o);
int vsml_clone_opts_check(const vsml_clone_opts *o);

/* One sample: a start state (h, c [N]), input x and error e. */
typedef struct vsml_clone_sample {
    const double *h, *c;
    double x, e;
    double e_stale; /* backward inbox during the forward sweep (usually 0) */
} vsml_clone_sample;

/* What the sub-LSTM produced and what it should have. */
typedef struct vsml_clone_result {
    double fwd[2], fwd_target;      /* forward message channels 0, 1 */
    double bwd, bwd_target;         /* backward message channel 0 */
    double w, w_target, b, b_target;/* after the backward sweep, unscaled */
    double loss;
} vsml_clone_result;

/* Workspace of one sample's network step (ticks of both sweeps). */
typedef struct vsml_clone_work vsml_clone_work;
vsml_clone_work *vsml_clone_work_new(const vsml_clone_opts *o);
void vsml_clone_work_free(vsml_clone_work *w);

/* Runs one network step of one sub-LSTM; when gp != NULL also adds the
 * gradient of res->loss to gp. h_out, c_out (may be NULL) get the new state. */
void vsml_clone_step(const vsml_clone_opts *o, const double *p, const vsml_clone_sample *s,
                     vsml_clone_work *w, vsml_clone_result *res, double *gp, double *h_out,
                     double *c_out);

/* ---- training ---- */

typedef void (*vsml_clone_progress)(void *user, int step, double loss, double fwd_rmse,
                                    double bwd_rmse, double upd_rmse);

/* Trains V_M from a fresh initialisation (init == NULL) or from init
 * (layout of N floats); writes the result to out (vsml_clone_layout.total
 * floats). Returns 0, or -1 with one error logged. */
int vsml_clone_train(const vsml_clone_opts *o, const float *init, float *out,
                     vsml_clone_progress cb, void *user);

/* Zeroes what the targets never use, so that only channel 0 of each inbox
 * is read and only the target channels are sent (C.1: "we zero all other
 * LSTM input dimensions except the ones that encode the input x and error
 * e"): the W_lstm rows of fwd inbox channels 1..M-1 and bwd inbox channels
 * 1..M-1, the forward head's channels 2..M-1 and the backward head's
 * channels 1..M-1 (weights and biases). Cloning never feeds those inputs
 * (they stay at their random initialisation) and never reads those
 * outputs, so a clone's targets are unchanged; in a deep network they
 * would otherwise pass junk between layers (layer 0's channels 2-7 reached
 * an RMS of 1-2, and channel 1, the output channel, carries the same value
 * as channel 0). vsml_clone_train applies it to what it writes.
 * params: one block (vsml_clone_layout_make(N)). */
void vsml_clone_prune(int N, float *params);

/* Held-out check on fresh random states, inputs and errors, and on states
 * produced by running the sub-LSTM for `burn` random steps: root mean
 * square errors of the forward message, the backward message and the
 * update of w (w' - w against -lr tanh(x) e), each divided by the RMS of its
 * target (the b update's by the w update's when lr_bias = 0). */
typedef struct vsml_clone_check {
    double fwd_rel, bwd_rel, upd_rel, bias_rel;
    double fwd_rmse, bwd_rmse, upd_rmse;
} vsml_clone_check;
int vsml_clone_evaluate(const vsml_clone_opts *o, const float *params, int n, int burn,
                        uint64_t seed, vsml_clone_check *out);

/* ---- meta-testing without a device ---- */

#include "vsml/rollout.h"

/* The CPU reference's computation (vsml_ref_rollout: same arguments, same
 * initial states and outputs) in single precision, with the inbox terms
 * computed once per step and h averaged before the linear heads, episodes
 * spread over `threads` threads. Agrees with the reference to float
 * rounding (tests/test_clone.c); for any state size. */
int vsml_cpu_rollout(const vsml_model_config *cfg, const float *params, const vsml_episodes *ep,
                     const vsml_rollout_out *out, int threads);

/* ---- deep networks: stages 2 and 3 of B.1's curriculum ---- */

/* One sub-LSTM step recorded in a rollout: the state at the start of the
 * step and the inboxes it saw (fwd inbox; bwd inbox in the forward sweep,
 * stale unless clear_bwd; bwd inbox in the backward sweep). */
struct vsml_clone_rec {
    int layer;
    float h[VSML_N_MAX], c[VSML_N_MAX];
    float fin[VSML_M], bin_fwd[VSML_M], bin_bwd[VSML_M];
};
typedef struct vsml_clone_rec vsml_clone_rec;

/* What vsml_cpu_rollout_probe measures and changes. The imitated network
 * (the "ground-truth network" of B.1) is the one whose weights and biases
 * the cells hold: layer k computes gain * mean_a(tanh(x_a) w_ab + b_ab) from
 * its fwd inbox channel 0, sends back mean_b(e_b w_ab (1 - tanh(x_a)^2)) and
 * updates w -= lr_target tanh(x_a) e_b, b -= lr_bias e_b (clone.h), with w
 * and b read from the cells at the start of the step. */
typedef struct vsml_cpu_probe {
    const vsml_clone_opts *o; /* w_dim, b_dim, scale, gain, lr_target, lr_bias */
    int gt_errors;            /* stage 2: in the backward sweep every lower layer's bwd
                                 inbox is [that error of the imitated layer above, 0...]
                                 instead of the VSML layer's backward message */
    int record_per_step;      /* sub-LSTMs per layer and step to record (0: none) */
    uint64_t seed;            /* which ones */
    vsml_clone_rec *rec;      /* [rec_cap]; records beyond it are dropped */
    size_t rec_cap, rec_n;
    /* out, per layer, sums over all steps of all episodes: squared errors
     * (se) and squared targets (ss) of the forward message (channel 0 and
     * 1), the backward message (channel 0; layers > 0) and the w update;
     * the squares of the fwd inbox channel 0 and of the error (bwd inbox
     * channel 0 in the backward sweep) and of the other message channels
     * (forward 2..7, backward 1..7), and the counts. */
    double fwd_se[VSML_MAX_LAYERS], fwd_ss[VSML_MAX_LAYERS], bwd_se[VSML_MAX_LAYERS],
        bwd_ss[VSML_MAX_LAYERS], upd_se[VSML_MAX_LAYERS], upd_ss[VSML_MAX_LAYERS];
    double x_ss[VSML_MAX_LAYERS], e_ss[VSML_MAX_LAYERS], fwd_other[VSML_MAX_LAYERS],
        bwd_other[VSML_MAX_LAYERS], w_ss[VSML_MAX_LAYERS], b_ss[VSML_MAX_LAYERS];
    double n_fwd[VSML_MAX_LAYERS], n_bwd[VSML_MAX_LAYERS], n_upd[VSML_MAX_LAYERS];
} vsml_cpu_probe;

/* The error the imitated layer k sends back (stage 2's intermediate
 * error): g[a] = mean_b(e[b] w[a B + b] (1 - tanh(x[a])^2)), for inputs
 * x[a] (fwd inbox channel 0; stride sx), errors e[b] (stride se) and
 * weights w at the start of the step. It is (A / (gain B)) dL/dx_a of the
 * imitated network y_b = gain mean_a(tanh(x_a) w_ab + b_ab) for
 * dL/dy = e (tests/test_clone_deep.c checks it by finite differences). */
void vsml_clone_gt_error(int A, int B, const float *x, int sx, const float *e, int se,
                         const float *w, double *g);

/* vsml_cpu_rollout with a probe (NULL: the same as vsml_cpu_rollout). Needs
 * cfg->backward_pass. The probe's sums are added to what it holds. */
int vsml_cpu_rollout_probe(const vsml_model_config *cfg, const float *params,
                           const vsml_episodes *ep, const vsml_rollout_out *out, int threads,
                           vsml_cpu_probe *probe);

/* The imitated network itself (no sub-LSTM): a dense net per cfg->sizes
 * with weights w = scale * (initial cell w_dim), b = scale * (cell b_dim)
 * (0 for cells >= N/2) of the engine's initial state, run online with the
 * rule above and clipped to [-scale * clip, scale * clip] as the cells
 * are: what a perfect clone would do. Same episodes and outputs as
 * vsml_cpu_rollout (double precision). */
int vsml_clone_ideal_rollout(const vsml_clone_opts *o, const vsml_model_config *cfg,
                             const vsml_episodes *ep, const vsml_rollout_out *out);

#endif
