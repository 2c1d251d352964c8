/* vsml-vk bench: the device's own fp32 peak and bandwidth, VSML workloads
 * checked against the CPU reference before they are timed, a PyTorch peer,
 * JSON results (schema: bench/schema.json) and comparisons between runs.
 * Thread-safety: plain data and functions of their arguments; the runners
 * use one engine (one thread). */
#ifndef VSML_BENCH_H
#define VSML_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vsml/engine.h"
#include "vsml/es.h"
#include "vsml/model.h"

/* ---- cost accounting (spec section 10) ----
 *
 * For R episodes of T steps of a network with layers (A_k, B_k), micro ticks
 * m, sweeps s (2 with backward_pass, else 1), N = 16, M = 8, G = 4N:
 *   updates    = R T s m sum_k A_k B_k                     (sub-LSTM updates)
 *   flop_model = R T s sum_k A_k B_k (m (2 (2M+N) G + 60) + 4 N M)
 *       the spec's count: per micro tick the full [2M+N] x [G] gate product
 *       (2 FLOP per multiply-add) and about 60 element-wise operations, per
 *       step each sub-LSTM's two message projections (N x M each). The
 *       paper's ES step (784x10, 2,048 episodes, T 500, m 2) is 70.8 TFLOP by
 *       this count (the spec rounds to "about 74").
 *   flop_exec  = R T s sum_k [A_k B_k (m (2 N G + 60) + 2 N)
 *                             + (A_k + B_k) (2 M G + 2 N M)]
 *       what the engine's algorithm must execute at least: the inbox terms
 *       U[a], V[b] once per step, only the h part of the gates per tick, h
 *       averaged over a and over b before the two projections.
 *       Percentages of the measured peak use this count.
 *   bytes      = R T s sum_k A_k B_k 2 N b * 2  +  R T (A_0 + C) 4
 *       the state traffic of a kernel that cannot keep states on chip
 *       between steps: h and c (2N values of b = 4 bytes, 2 with state_f16)
 *       read and written once per step, plus the input example and the
 *       outputs. */
typedef struct vsml_bench_cost {
    double updates, flop_model, flop_exec, bytes;
} vsml_bench_cost;

void vsml_bench_rollout_cost(const vsml_model_config *cfg, double episodes, double steps,
                             vsml_bench_cost *out);

/* ---- the peak microbenchmark (shaders/bench_fma.comp, bench_copy.comp) ---- */

typedef struct vsml_bench_peak {
    double fma_gflops;   /* best of the FMA variants, from device time */
    double copy_gbs;     /* read + write bytes per second */
    double fma_s, copy_s; /* device seconds of one timed dispatch (median) */
    int fma_chains;      /* vec4 chains per invocation of the best variant */
    long long fma_invocations, copy_bytes;
    bool timestamps;     /* false: wall time was used */
} vsml_bench_peak;

/* Runs both microbenchmarks on the device named like vsml_engine_params.
 * quick = short runs (tests). */
int vsml_bench_peak_run(const char *device, bool validation, bool quick, int reps,
                        vsml_bench_peak *out);

/* ---- workloads ---- */

#define VSML_BENCH_NAME 64
#define VSML_BENCH_MAX_REPS 64

enum vsml_bench_kind { VSML_BENCH_ROLLOUT = 0, VSML_BENCH_ES_STEP = 1 };

typedef struct vsml_bench_stat {
    double median, min, max; /* seconds; all 0 when not measured */
} vsml_bench_stat;

typedef struct vsml_bench_peer {
    bool ran;
    char name[32];       /* "torch" */
    char desc[160];      /* version, device, threads, BLAS */
    vsml_bench_stat wall;
    double check_err;    /* max |peer - engine| / max(1, |engine|) on the check slice */
} vsml_bench_peer;

typedef struct vsml_bench_result {
    char name[VSML_BENCH_NAME];
    enum vsml_bench_kind kind;
    char layers[64];
    int P, E, T, micro_ticks, reps, dispatches;
    int state_bits;               /* 32, or 16 with state_f16 */
    vsml_bench_stat wall, device; /* per repetition */
    vsml_bench_stat rollout;      /* ES steps: of wall, the population's run (0: none) */
    vsml_bench_cost cost;         /* per repetition */
    /* the correctness gate */
    int check_episodes, check_steps;
    double check_err;             /* max relative logit error vs the CPU reference */
    double check_tol;
    vsml_bench_peer peer;
    bool have_plan;               /* rollouts: how the engine ran the population */
    vsml_pop_plan_info plan;
} vsml_bench_result;

typedef struct vsml_bench_rollout_spec {
    const char *name;
    vsml_model_config cfg;
    int P, E, T, reps;
    int check_steps;     /* steps of the gate (<= T) */
    uint64_t seed;
    const char *workload_file; /* non-NULL: write the shared input for the peer here */
} vsml_bench_rollout_spec;

/* The gate's tolerance (as tests/test_engine_ref.c): |dev - ref| <= TOL *
 * max(1, |ref|). Device and peer (both float) are each within TOL of the
 * double reference, so they must agree to 2 TOL. */
#define VSML_BENCH_TOL 1e-4
/* With a 16-bit state (state_f16) the reference rounds its state to halves
 * where the device does, but a value that lies within float rounding of a
 * half-way point rounds to neighbouring halves on the two sides (2^-11 to
 * 2^-10 apart, relative to the value), and the dynamics carry that on:
 * tests/test_state_f16.c measured logits up to 9.7e-4 apart after two
 * steps of a meta-trained learner (and holds them to this tolerance); the
 * bench's own workloads (fresh parameters, zero initial states) 2.6e-6 to
 * 5.2e-6 after three. Still 5x under the error the gate's test injects
 * (1e-2). */
#define VSML_BENCH_TOL_F16 2e-3

/* The host memory a rollout workload of P members x E episodes x T steps
 * of cfg takes (its inputs, the population's parameters and its logits)
 * against the machine's: one error naming the workload and -1 if it cannot
 * fit, before anything is allocated. */
int vsml_bench_rollout_check(const vsml_model_config *cfg, const char *name, int P, int E, int T);

/* Runs a rollout workload: the check slice against the CPU reference (a
 * failure is an error), then reps timed runs. The environment variable
 * VSML_BENCH_INJECT_ERROR=1 perturbs one device logit before the check (for
 * tests of the gate). If spec->workload_file is set, the shared input for a
 * peer is written there and the device's check logits [R][check_steps][C]
 * are returned in *check_logits (malloc'ed). */
int vsml_bench_rollout(vsml_engine *eng, const vsml_bench_rollout_spec *spec,
                       vsml_bench_result *res, float **check_logits);

/* One full ES step (perturbation on the device, the population's rollout,
 * fitness, gradient, Adam) of configuration c through the trainer API, reps
 * times; before that the perturbation and rollout of the same population
 * shape are checked against the CPU reference on check_steps steps. */
int vsml_bench_es_step(vsml_engine *eng, const char *name, const vsml_train_config *c,
                       int reps, int check_steps, vsml_bench_result *res);

/* Runs the peer script on a workload file: it checks its own logits against
 * dev_logits (the engine's check slice) and times the rollout. */
int vsml_bench_peer_run(const char *python, const char *script, const char *peer_device,
                        const char *workload_file, const vsml_bench_rollout_spec *spec,
                        const float *dev_logits, vsml_bench_peer *out);

/* Median, min, max of n values (n >= 1). */
vsml_bench_stat vsml_bench_stats(const double *v, int n);

/* ---- reports ---- */

typedef struct vsml_bench_report {
    vsml_device_info dev;
    /* the host: its CPU model ("model name" of /proc/cpuinfo, else "") and
     * online CPUs; a CPU device's figures depend on them */
    char host_cpu[128];
    int host_cpus;
    const char *git_rev, *version, *command, *date;
    vsml_bench_peak peak;
    bool have_peak;
    int n_results;
    const vsml_bench_result *results;
} vsml_bench_report;

/* Fills r->host_cpu and r->host_cpus. */
void vsml_bench_host_info(vsml_bench_report *r);
/* Human-readable table. */
void vsml_bench_print(FILE *f, const vsml_bench_report *r);
/* One workload's result as one line, printed as soon as it is measured (a
 * run stopped later still leaves it). */
void vsml_bench_print_one(FILE *f, const vsml_bench_result *w);
/* JSON per bench/schema.json, written atomically. */
int vsml_bench_write_json(const char *path, const vsml_bench_report *r);
/* Reads an earlier JSON file and prints the change of every workload present
 * in both (throughput and device time). */
int vsml_bench_compare(FILE *f, const char *old_path, const vsml_bench_report *r);
/* Whether old_path is such a file (one error line and -1 if not): checked
 * before the workloads run. */
int vsml_bench_compare_check(const char *old_path);

#endif
