/* A population rollout: what to run and what comes back. Shared by the CPU
 * reference (ref.h) and the device engine (engine.h).
 *
 * R = P * E episodes; episode r uses parameter vector r / E, reads stream
 * ep_stream[r] and starts from the initial state numbered ep_init[r]
 * (episodes with equal numbers start from identical states; spec section 6's
 * common random numbers). Step t of stream s shows example
 * stream[(s * T + t) * 2] of the table x with label stream[(s * T + t) * 2 + 1].
 * Thread-safety: plain data. */
#ifndef VSML_ROLLOUT_H
#define VSML_ROLLOUT_H

#include <stdint.h>

#include "vsml/model.h"

typedef struct vsml_episodes {
    int P, E, T;
    const float *x;          /* [n_examples][dim], dim = sizes[0] */
    int n_examples;
    int n_streams;
    const int32_t *stream;   /* [n_streams][T][2]: example index, label */
    const uint32_t *ep_stream; /* [R] */
    const uint32_t *ep_init;   /* [R] */
    uint64_t seed;           /* initial-state seed */
} vsml_episodes;

/* Per-episode results; any pointer may be NULL when not wanted. */
typedef struct vsml_rollout_out {
    float *loss_sum;   /* [R] sum over steps of the cross-entropy */
    float *loss_last;  /* [R] loss of the final step */
    float *correct;    /* [R] number of correct predictions */
    float *nonfinite;  /* [R] first step (1-based) with a non-finite loss, else 0 */
    float *logits;     /* [R][T][C] bounded outputs y_hat */
    float *loss;       /* [R][T] */
} vsml_rollout_out;

/* Stores the results of episode r in the arrays of out that are not NULL. */
void vsml_rollout_out_put(const vsml_rollout_out *out, size_t r, double loss_sum, double loss,
                          double correct, double nonfinite);

/* The running results of one episode (start from all zeros; one
 * vsml_rollout_step a step; store them with vsml_rollout_out_put). */
typedef struct vsml_rollout_acc {
    double loss_sum;  /* sum of the steps' losses */
    double loss;      /* the last step's loss */
    double correct;   /* steps whose first largest output is the label */
    double nonfinite; /* first step (1-based) with a non-finite loss, else 0 */
} vsml_rollout_acc;

/* The end of step t (of T) of episode r, spec section 5: from the C bounded
 * outputs y and the label (0 <= label < C), the cross-entropy of softmax(y)
 * (log-sum-exp) and the error softmax(y) - onehot(label) into err[C] (the
 * top layer's backward input; it must not overlap y); y and the loss into
 * out's logits and loss where they are not NULL; acc updated. In double, in
 * one fixed order: the CPU reference and the CPU rollouts share it, so that
 * equal y give bitwise equal results. */
void vsml_rollout_step(vsml_rollout_acc *acc, const vsml_rollout_out *out, size_t r, int t,
                       int T, int C, const double *y, int label, double *err);

/* Checks sizes, indices and labels of the episodes against cfg. */
int vsml_episodes_check(const vsml_model_config *cfg, const vsml_episodes *ep);

/* The fitness of each episode per cfg->loss_type: mean loss or last loss. */
float vsml_fitness(const vsml_model_config *cfg, float loss_sum, float loss_last, int T);

#endif
