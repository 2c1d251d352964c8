/* Meta-testing (spec section 8): metrics over seeds, the online SGD and Adam
 * baselines, and the plots of the paper's Figures 8 and 12.
 *
 * Metrics read a correctness array correct[s * T + t] (1 = the prediction of
 * seed s at step t was right, 0 = wrong) and report the mean and the
 * population standard deviation (divide by S, as numpy's std) over seeds of
 * a per-seed accuracy.
 * Thread-safety: metric and plot functions are reentrant; a baseline object
 * belongs to one thread (distinct objects may run in distinct threads). */
#ifndef VSML_EVAL_H
#define VSML_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsml/model.h"

/* ---- metrics (src/eval/metrics.c) ---- */

typedef struct vsml_stat {
    double mean, std;
} vsml_stat;

/* Mean and population standard deviation of v[0..n). n >= 1. */
vsml_stat vsml_stat_of(const double *v, int n);

/* Accuracy of each seed on steps [t0, t1), then mean/std over the S seeds.
 * Requires 0 <= t0 < t1 <= T. */
vsml_stat vsml_acc_range(const uint8_t *correct, int S, int T, int t0, int t1);

/* Steps of the first-examples metric (Figure 13) and of the final one. */
#define VSML_EVAL_FIRST_N 100
#define VSML_EVAL_FINAL_FRAC 10 /* the last T / 10 steps (at least one) */

typedef struct vsml_metrics {
    vsml_stat online;   /* all T predictions (Figure 8) */
    vsml_stat first;    /* cumulative accuracy on the first min(100, T) (Figure 13) */
    vsml_stat final;    /* the last max(1, T / 10) steps */
    int window;         /* learning-curve window in steps */
    int n_windows;      /* ceil(T / window); the last one may be shorter */
    vsml_stat *curve;   /* [n_windows]: accuracy in [w * window, min((w+1) * window, T)) */
} vsml_metrics;

/* Computes every metric; curve is malloc'ed (vsml_metrics_free). */
int vsml_metrics_compute(const uint8_t *correct, int S, int T, int window, vsml_metrics *out);
void vsml_metrics_free(vsml_metrics *m);

/* correct[i] = (argmax of logits[i * C .. i * C + C) == labels[i]) for
 * i < n; ties go to the lowest index. */
void vsml_correct_from_logits(const float *logits, const int32_t *labels, size_t n, int C,
                              uint8_t *correct);

/* ---- baselines (src/eval/baselines.c) ---- */

enum vsml_optimizer { VSML_OPT_SGD = 0, VSML_OPT_ADAM = 1 };

/* Philox tag of the baselines' weight initialisation (distinct from VSML_TAG_*). */
#define VSML_TAG_BASELINE 0x42u

typedef struct vsml_baseline_config {
    int inputs, hidden, outputs;  /* hidden = 0: a single linear layer */
    enum vsml_optimizer opt;
    float lr;                     /* SGD 1e-2, Adam 1e-3 */
    float beta1, beta2, eps;      /* Adam: 0.9, 0.999, 1e-8 */
    float bound;                  /* outputs are bound * tanh(z / bound); 100 */
} vsml_baseline_config;

/* SGD (lr 1e-2) or Adam (lr 1e-3, 0.9, 0.999, 1e-8), bound 100. */
void vsml_baseline_config_default(vsml_baseline_config *c, enum vsml_optimizer opt, int inputs,
                                  int hidden, int outputs);

typedef struct vsml_baseline vsml_baseline;

/* Weights: truncated normal (2 std) with std 1/sqrt(fan_in), zero biases,
 * deterministic in (seed, stream). */
int vsml_baseline_create(const vsml_baseline_config *c, uint64_t seed, uint32_t stream,
                         vsml_baseline **out);
void vsml_baseline_destroy(vsml_baseline **b);

/* The parameter vector, in this order: hidden = 0: W [in][out], b [out];
 * else W1 [in][hidden], b1 [hidden], W2 [hidden][out], b2 [out]. */
float *vsml_baseline_params(vsml_baseline *b, size_t *count);

/* Bounded outputs y for input x (outputs values). */
void vsml_baseline_predict(vsml_baseline *b, const float *x, float *y);

/* One prequential step: predict x (y gets the bounded outputs, may be
 * NULL), then one optimiser step on the cross-entropy of softmax(y) against
 * label. Returns the loss of the prediction. */
float vsml_baseline_step(vsml_baseline *b, const float *x, int label, float *y);

/* One online episode over stream[t] = (example, label), t < T, of the table
 * x [n][inputs]: correct[t] and loss[t] (either may be NULL). */
int vsml_baseline_episode(const vsml_baseline_config *c, uint64_t seed, uint32_t stream_id,
                          const float *x, const int32_t *stream, int T, uint8_t *correct,
                          float *loss);

/* S episodes (stream s of streams [S][T][2], initial weights (seed, s)) on
 * up to n_threads threads (0 = the online CPUs). */
int vsml_baseline_run(const vsml_baseline_config *c, uint64_t seed, const float *x,
                      const int32_t *streams, int S, int T, int n_threads, uint8_t *correct,
                      float *loss);

/* ---- plots (src/eval/plot.c) ---- */

/* Series colour i (cycled), components in [0, 1]. */
void vsml_plot_color(int i, double rgb[3]);

/* The plot area of a figure: pixel box and data ranges. */
typedef struct vsml_plot_frame {
    int width, height;             /* whole image */
    double left, top, right, bottom; /* plot box in pixels */
    double x0, x1, y0, y1;         /* data range shown */
} vsml_plot_frame;

/* Line figure layout: width x height image, x from 0 to x_max, y in [0, 1]. */
void vsml_plot_curve_frame(int width, int height, double x_max, vsml_plot_frame *f);
/* Pixel position of the data point (x, y) (pixel units; (0,0) = top left corner). */
void vsml_plot_map(const vsml_plot_frame *f, double x, double y, double *px, double *py);

typedef struct vsml_plot_series {
    const char *name;
    int n;
    const double *x, *mean, *std; /* std may be NULL: no band */
} vsml_plot_series;

/* Learning curves (Figure 12): mean lines over standard-deviation bands
 * (alpha VSML_PLOT_BAND_ALPHA), series i in vsml_plot_color(i), grid,
 * axes, labels, legend right of the plot box; x from 0 to x_max (0: the
 * largest x of the data). Written as PNG to path. */
#define VSML_PLOT_BAND_ALPHA 0.2
#define VSML_PLOT_LINE_WIDTH 2.0
int vsml_plot_curves(const char *path, const char *title, const char *xlabel,
                     const char *ylabel, int width, int height, double x_max,
                     const vsml_plot_series *s, int n_series);

/* Grouped bars (Figure 8): groups (datasets) along x, one bar per series
 * (method) in each group, value mean[g * n_series + i] with an error bar
 * of std[...] (may be NULL); y in [0, 1]. */
int vsml_plot_bars(const char *path, const char *title, const char *ylabel, int width,
                   int height, const char *const *groups, int n_groups,
                   const char *const *series, int n_series, const double *mean,
                   const double *std);

/* The bar of series i in group g: its pixel box in the frame of
 * vsml_plot_bars (for tests). */
void vsml_plot_bar_frame(int width, int height, vsml_plot_frame *f);
void vsml_plot_bar_box(const vsml_plot_frame *f, int n_groups, int n_series, int g, int i,
                       double *x_left, double *x_right);

/* ---- results and reports (src/eval/report.c) ---- */

#define VSML_EVAL_MAX_METHODS 8

typedef struct vsml_eval_method {
    char name[32];   /* vsml, sgd_linear, sgd_hidden160, adam_linear, ... */
    char label[48];  /* for legends and tables: "VSML", "SGD (linear)", ... */
    vsml_metrics m;
    vsml_stat loss;  /* mean online cross-entropy per seed, over seeds */
    double wall_s;   /* time of the S episodes */
} vsml_eval_method;

typedef struct vsml_eval_dataset {
    char name[64];
    int dim, classes, examples;
    int layers[VSML_MAX_LAYERS + 1];     /* VSML layer sizes, n_layers + 1 of them */
    int n_layers;
    int n_methods;
    vsml_eval_method methods[VSML_EVAL_MAX_METHODS];
} vsml_eval_dataset;

typedef struct vsml_eval_report {
    const char *params;       /* parameter file, or NULL for fresh parameters */
    uint64_t init_seed;       /* fresh parameters: their seed */
    const char *device;       /* device name */
    int steps, seeds, window, hidden;
    int state_bits;           /* h and c between steps: 32, or 16 (--state-fp16) */
    uint64_t seed, data_seed;
    double total_s;
    int n_datasets;
    vsml_eval_dataset *datasets;
} vsml_eval_report;

/* Per-seed mean of loss[s * T + t] over t, then mean/std over seeds. */
vsml_stat vsml_loss_stat(const float *loss, int S, int T);

/* Each writes one file atomically; one error on failure. */
int vsml_eval_write_json(const char *path, const vsml_eval_report *r);
int vsml_eval_write_csv(const char *path, const vsml_eval_report *r);
/* curves_<dataset>.png per dataset, online_accuracy.png, first100_accuracy.png. */
int vsml_eval_write_plots(const char *dir, const vsml_eval_report *r);
void vsml_eval_print_table(const vsml_eval_report *r);
void vsml_eval_report_free(vsml_eval_report *r);

#endif
