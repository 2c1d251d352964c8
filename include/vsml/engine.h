/* The device engine: VSML populations on Vulkan.
 *
 * A vsml_engine owns the Vulkan device and the compiled pipelines. A
 * vsml_pop holds the device buffers of one population shape (model, P, E,
 * T, data sizes) so that repeated runs (ES steps, viz frames) reuse them.
 * Episodes are split into chunks whose buffers each fit the device's
 * maxStorageBufferRange; a run records every chunk and every slice of steps
 * into one command buffer and waits once.
 * Thread-safety: an engine and its populations belong to one thread. */
#ifndef VSML_ENGINE_H
#define VSML_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "vsml/rollout.h"

typedef struct vsml_engine vsml_engine;
typedef struct vsml_pop vsml_pop;

enum vsml_kernel {
    VSML_KERNEL_AUTO = 0,     /* serial for small networks, else cpu on CPU devices, else parallel */
    VSML_KERNEL_PARALLEL = 1, /* one workgroup per episode */
    VSML_KERNEL_SERIAL = 2,   /* one invocation per episode */
    /* a workgroup per episode whose SIMD lanes are sub-LSTMs of one output,
     * the recurrent weights in private memory, the state read as a texel
     * buffer: for CPU devices (llvmpipe); N = 16, one parameter block */
    VSML_KERNEL_CPU = 3,
};

/* Whether kernel k can run a state of that width: only the parallel kernel
 * (or AUTO, which then picks it) has a 16-bit state. One error line and -1
 * otherwise; the engine checks it at population creation, and a command may
 * check it earlier, before long work. */
int vsml_kernel_check_state(enum vsml_kernel k, bool state_f16);

typedef struct vsml_engine_params {
    const char *device;       /* index or name substring; NULL = best device */
    bool validation;          /* Khronos validation layer; errors are counted */
    int workgroup_size;       /* 0 = chosen from the device */
    int max_chunk_episodes;   /* 0 = as many as the device limits allow */
    int steps_per_dispatch;   /* 0 = default (64) */
    int split;                /* cpu kernel: workgroups per episode (1..VSML_MAX_SPLIT);
                               * 0 = as many as make the CPU's threads busy */
    enum vsml_kernel kernel;
    /* For a window on the engine's device (vsml-vk viz), else NULL/0/false:
     * extra instance extensions, VK_KHR_swapchain, and a filter of the
     * queue family (VkInstance, VkPhysicalDevice as pointers). */
    const char *const *instance_exts;
    uint32_t n_instance_exts;
    bool swapchain;
    int (*present_ok)(void *instance, void *phys, uint32_t family);
} vsml_engine_params;

int vsml_engine_create(vsml_engine **out, const vsml_engine_params *params);
void vsml_engine_destroy(vsml_engine **eng);

typedef struct vsml_device_info {
    char name[256];
    const char *type;
    uint32_t vendor_id, device_id, api_version, driver_version;
    uint32_t subgroup_size, workgroup_size;
    uint64_t max_storage_range;
    uint32_t max_shared_memory;
    bool timestamps;
} vsml_device_info;

void vsml_engine_info(const vsml_engine *eng, vsml_device_info *info);
/* Validation-layer errors seen so far (0 when validation is off). */
int vsml_engine_validation_errors(const vsml_engine *eng);

/* What a population writes besides the per-episode results. */
#define VSML_POP_LOGITS 1u
#define VSML_POP_LOSSES 2u

typedef struct vsml_pop_shape {
    int P, E, T;
    int n_examples;
    int n_streams;
    unsigned outputs; /* VSML_POP_* */
} vsml_pop_shape;

int vsml_pop_create(vsml_engine *eng, const vsml_model_config *cfg, const vsml_pop_shape *shape,
                    vsml_pop **out);
void vsml_pop_destroy(vsml_pop **pop);
int vsml_pop_chunks(const vsml_pop *pop);

/* Uploads (any subset, any order, before vsml_pop_run). */
int vsml_pop_set_params(vsml_pop *pop, const float *params); /* [P][param_count] */
int vsml_pop_set_data(vsml_pop *pop, const float *x);        /* [n_examples][dim] */
/* The first rows (<= n_examples) of the example table only. */
int vsml_pop_set_data_rows(vsml_pop *pop, const float *x, int rows);
int vsml_pop_set_episodes(vsml_pop *pop, const int32_t *stream, const uint32_t *ep_stream,
                          const uint32_t *ep_init);

/* ES (spec section 6): writes the P = 2 * pairs parameter vectors on the
 * device: vector 2j = theta + sigma * eps, vector 2j+1 = theta - sigma * eps,
 * eps[i] = vsml_es_noise(seed, step, pair_base + j, i). Only theta travels. */
int vsml_pop_set_es_params(vsml_pop *pop, const float *theta, float sigma, uint64_t seed,
                           uint32_t step, uint32_t pair_base);
/* Reads back the P parameter vectors (for tests and checks). */
int vsml_pop_get_params(vsml_pop *pop, float *params);

typedef struct vsml_run_stats {
    double wall_s;    /* record + submit + wait */
    double device_s;  /* from timestamp queries; 0 when unsupported */
    int dispatches;
} vsml_run_stats;

/* Runs steps [t0, t0 + n_steps); init = start every episode afresh (t0 = 0).
 * A population's first run must start its episodes (init); without, it is
 * an error. */
int vsml_pop_run(vsml_pop *pop, uint64_t seed, int t0, int n_steps, bool init,
                 vsml_run_stats *stats);
/* Reads the results of the episodes (pointers in out may be NULL). */
int vsml_pop_read(vsml_pop *pop, const vsml_rollout_out *out);

/* Convenience: a whole rollout in one call (creates and destroys a pop). */
int vsml_engine_rollout(vsml_engine *eng, const vsml_model_config *cfg, const float *params,
                        const vsml_episodes *ep, const vsml_rollout_out *out,
                        vsml_run_stats *stats);

/* How a population was planned (benchmarks report it with their figures). */
typedef struct vsml_pop_plan_info {
    bool serial;              /* one invocation per episode, else a workgroup */
    enum vsml_kernel kernel;  /* the kernel chosen (never AUTO) */
    uint32_t workgroup_size;
    int steps_per_dispatch;
    int chunks;
    int split;                /* workgroups per episode in the micro ticks (cpu kernel) */
    bool state_f16;           /* h and c stored as 16-bit floats */
} vsml_pop_plan_info;
void vsml_pop_plan(const vsml_pop *pop, vsml_pop_plan_info *out);

/* For renderers on the engine's device (vsml-vk viz; src/vk/vk.h): the
 * engine's Vulkan context, and the device buffer holding the outputs of
 * episode r (T x C floats from byte *offset, written by vsml_pop_run) or NULL
 * when the population does not write VSML_POP_LOGITS. */
struct vk_ctx;
struct vk_buf;
struct vk_ctx *vsml_engine_vk(vsml_engine *eng);
const struct vk_buf *vsml_pop_logits_buf(const vsml_pop *pop, int r, uint64_t *offset);

#endif
