#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vk/vk.h"
#include "vsml/engine.h"
#include "vsml/log.h"
#include "vsml/util.h"

#include "es_perturb.spv.h"
#include "vsml_step.spv.h"
#include "vsml_step_serial.spv.h"
#include "vsml_step_n64.spv.h"
#include "vsml_step_serial_n64.spv.h"
#include "vsml_step_cpu.spv.h"
#define SERIAL_WG 64

struct vsml_step_pc { VSML_STEP_PC_FIELDS };
struct vsml_perturb_pc { VSML_PERTURB_PC_FIELDS };
_Static_assert(sizeof(struct vsml_perturb_pc) <= 128, "push constants must fit in 128 bytes");
#define PERTURB_WG 64
_Static_assert(sizeof(struct vsml_step_pc) <= 128, "push constants must fit in 128 bytes");

#define STEP_BINDINGS 10
/* the texel views of the serial kernel (parameters, examples, state, scratch
 * as floats and as vec4s) and of the cpu kernel (state as vec4s, examples,
 * parameters) */
#define SERIAL_TEXELS 5
#define CPU_TEXELS 3
#define DEFAULT_STEPS_PER_DISPATCH 64

/* llvmpipe stops every loop of a shader invocation after 65535 iterations
 * in total (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops), and
 * silently: a dispatch must stay below that. We keep a margin. */
#define LLVMPIPE_LOOP_BUDGET 60000.0

struct vsml_engine {
    vk_ctx *vk;
    vsml_engine_params params;
    uint32_t wg;
    uint64_t max_range;
    double loop_budget; /* 0 = unlimited */
    bool warned_f16;    /* the 16-bit state's warning on a CPU device, once */
};

typedef struct chunk {
    int ep_base, n_eps;
    vk_buf state, scratch, logits, losses;
    VkBufferView state_view; /* the cpu and serial kernels' state (vec4s; serial N > 16: floats) */
    VkBufferView scratch_view, scratch4_view; /* the serial kernel's scratch (float, vec4) */
    VkDescriptorSet set;
} chunk;

struct vsml_pop {
    vsml_engine *eng;
    vsml_model_config cfg;
    vsml_pop_shape shape;
    int R;
    uint32_t state_stride, scratch_stride, param_stride;
    uint32_t layout[VSML_LAY_SIZE];
    vk_buf params, lay, x, stream, epinfo, results;
    VkBufferView x_view; /* the cpu and serial kernels read the examples through it */
    VkBufferView params_view; /* the cpu and serial kernels read the parameters through it */
    VkDescriptorPool pool;
    VkQueryPool queries;
    int n_chunks;
    chunk *chunks;
    vk_pipe step;
    uint32_t wg;
    bool serial; /* one invocation per episode */
    bool cpu;    /* the CPU kernel (VSML_KERNEL_CPU) */
    int split;   /* cpu kernel: workgroups per episode in the micro ticks (VSML_MAX_SPLIT) */
    int steps_per_dispatch;
    VkDescriptorSet bound; /* the step's set last bound in the command buffer being recorded */
    bool started; /* a run with init completed: the episodes' state exists */
    /* ES perturbation (made on first use) */
    vk_pipe perturb;
    vk_buf theta;
    VkDescriptorPool perturb_pool;
    VkDescriptorSet perturb_set;
};

int vsml_engine_create(vsml_engine **out, const vsml_engine_params *params)
{
    *out = NULL;
    vsml_engine *eng = calloc(1, sizeof(*eng));
    if (!eng) {
        vsml_err("out of memory");
        return -1;
    }
    eng->params = *params;
    vk_ctx_params vp = {.device = params->device, .validation = params->validation,
                        .instance_exts = params->instance_exts,
                        .n_instance_exts = params->n_instance_exts,
                        .swapchain = params->swapchain, .present_ok = params->present_ok};
    if (vk_ctx_create(&eng->vk, &vp) != 0)
        goto fail;
    const VkPhysicalDeviceLimits *lim = &eng->vk->props.limits;
    uint32_t wg = params->workgroup_size > 0 ? (uint32_t)params->workgroup_size
                  : eng->vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 64u : 256u;
    if (wg > lim->maxComputeWorkGroupInvocations)
        wg = lim->maxComputeWorkGroupInvocations;
    if (wg > lim->maxComputeWorkGroupSize[0])
        wg = lim->maxComputeWorkGroupSize[0];
    eng->wg = wg;
    eng->max_range = vk_max_binding_bytes(eng->vk);
    if ((size_t)VSML_BLOCK_SIZE * 4 + 64 > lim->maxComputeSharedMemorySize) {
        vsml_err("device %s has only %u bytes of shared memory per workgroup",
                 eng->vk->props.deviceName, lim->maxComputeSharedMemorySize);
        goto fail;
    }
    if (eng->vk->props.vendorID == 0x10005 &&
        eng->vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
        eng->loop_budget = LLVMPIPE_LOOP_BUDGET;
    *out = eng;
    return 0;
fail:
    vsml_engine_destroy(&eng);
    return -1;
}

void vsml_engine_destroy(vsml_engine **peng)
{
    vsml_engine *eng = *peng;
    if (!eng)
        return;
    vk_ctx_destroy(&eng->vk);
    free(eng);
    *peng = NULL;
}

void vsml_engine_info(const vsml_engine *eng, vsml_device_info *info)
{
    const VkPhysicalDeviceProperties *p = &eng->vk->props;
    memset(info, 0, sizeof(*info));
    snprintf(info->name, sizeof(info->name), "%s", p->deviceName);
    info->type = vk_device_type_str(p->deviceType);
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->api_version = p->apiVersion;
    info->driver_version = p->driverVersion;
    info->subgroup_size = eng->vk->subgroup_size;
    info->workgroup_size = eng->wg;
    info->max_storage_range = eng->max_range;
    info->max_shared_memory = p->limits.maxComputeSharedMemorySize;
    info->timestamps = eng->vk->timestamp_bits > 0;
}

int vsml_engine_validation_errors(const vsml_engine *eng)
{
    return eng->vk->validation_errors;
}

static int check_fits(const vsml_engine *eng, uint64_t bytes, const char *what);

/* Per-episode offsets of state and scratch (floats); see shader_iface.h.
 * Summed in 64 bits: an episode's state must fit a buffer binding (the
 * shader's offsets are 32-bit), checked here. */
static int plan_layout(vsml_pop *pop)
{
    const vsml_model_config *cfg = &pop->cfg;
    const uint64_t N = (uint64_t)vsml_state_size(cfg), G = 4 * N;
    uint64_t st = 0, sc = 0, maxA = 0, maxB = 0;
    memset(pop->layout, 0, sizeof(pop->layout));
    for (int k = 0; k < cfg->n_layers; k++) {
        uint64_t A = (uint64_t)cfg->sizes[k], B = (uint64_t)cfg->sizes[k + 1];
        uint32_t *L = &pop->layout[VSML_LAY_LAYER0 + k * VSML_LAY_STRIDE];
        L[VSML_LAYK_A] = (uint32_t)A;
        L[VSML_LAYK_B] = (uint32_t)B;
        L[VSML_LAYK_STATE] = (uint32_t)st;
        st += 2 * N * A * B;
        L[VSML_LAYK_FWD] = (uint32_t)sc;
        sc += A * VSML_M;
        L[VSML_LAYK_BWD] = (uint32_t)sc;
        sc += B * VSML_M;
        maxA = A > maxA ? A : maxA;
        maxB = B > maxB ? B : maxB;
    }
    sc = (sc + 3) & ~3ull; /* U and V are read as vec4 */
    pop->layout[VSML_LAY_U] = (uint32_t)sc;
    sc += maxA * G;
    pop->layout[VSML_LAY_V] = (uint32_t)sc;
    sc += maxB * G;
    pop->layout[VSML_LAY_HF] = (uint32_t)sc;
    sc += maxB * N;
    pop->layout[VSML_LAY_HG] = (uint32_t)sc;
    sc += maxA * N;
    pop->layout[VSML_LAY_OUT] = (uint32_t)sc;
    sc += (uint64_t)cfg->sizes[cfg->n_layers];
    sc = (sc + 3) & ~3ull; /* the split sums are written as vec4 */
    pop->layout[VSML_LAY_HP] = (uint32_t)sc;
    sc += VSML_MAX_SPLIT * maxB * N;
    pop->layout[VSML_LAY_CNT] = (uint32_t)sc;
    sc += 1;
    sc = (sc + 3) & ~3ull;
    /* (a binding is at most 2^32 - 1 bytes: what passes fits 32-bit offsets) */
    if (check_fits(pop->eng, st * (cfg->state_f16 ? 2 : 4), "state of one episode") != 0 ||
        check_fits(pop->eng, sc * 4, "scratch of one episode") != 0)
        return -1;
    pop->state_stride = (uint32_t)st;
    pop->scratch_stride = (uint32_t)sc;
    return 0;
}

/* Bytes of one episode's state: its floats, or halves (state_f16). */
static uint64_t state_bytes(const vsml_pop *pop)
{
    return (uint64_t)pop->state_stride * (pop->cfg.state_f16 ? 2 : 4);
}

static double cdiv(double a, double b)
{
    return ceil(a / b);
}

/* Upper bound of the loop iterations one invocation of vsml_step.comp runs
 * per step (loops NIR unrolls count for less; we count every loop). */
static double loop_iters_per_step(const vsml_model_config *cfg, double wg)
{
    vsml_param_layout L;
    vsml_param_layout_of(vsml_state_size(cfg), &L);
    const double N = L.N, M = L.M, G = L.G, block = (double)L.block;
    double it = 1.0, sweeps = cfg->backward_pass ? 2.0 : 1.0;
    for (int k = 0; k < cfg->n_layers; k++) {
        double A = cfg->sizes[k], B = cfg->sizes[k + 1], per = 2.0;
        if (cfg->per_layer_params && cfg->n_layers > 1 && N <= 16)
            per += cdiv(block / 4, wg); /* the N > 16 kernels read the buffer: no load loop */
        per += (k > 0 ? cdiv(A, wg) * (M + G / 4 + 2) : 0.0) + cdiv(B, wg) * (M + G / 4 + 2);
        /* micro ticks: N/16 chunks of 16 cells, each a loop over N */
        per += cdiv(A * B, wg) * (2.0 * N + 2.0 + cfg->micro_ticks * (N / 16 * (N + 2.0) + G / 4));
        per += cdiv(B * N, wg) * (1.0 + A) + cdiv(B * M, wg) * (1.0 + N);
        if (k > 0)
            per += cdiv(A * N, wg) * (1.0 + B) + cdiv(A * M, wg) * (1.0 + N);
        it += sweeps * per;
    }
    double C = cfg->sizes[cfg->n_layers];
    return it + C * (6.0 + M) + cdiv(C * M, wg) + 4.0;
}

/* Every dispatch's prologue: the parameter block's load loop (N = 16). */
static double loop_iters_prologue(const vsml_model_config *cfg, double wg)
{
    vsml_param_layout L;
    vsml_param_layout_of(vsml_state_size(cfg), &L);
    return 8.0 + (L.N <= 16 ? cdiv((double)L.block / 4, wg) : 0.0);
}

/* The initial states' loop iterations; with S > 1 workgroups per episode
 * (the cpu kernel's split) each initialises a share of the sub-LSTMs. */
static double loop_iters_init_split(const vsml_model_config *cfg, double wg, double S)
{
    vsml_param_layout L;
    vsml_param_layout_of(vsml_state_size(cfg), &L);
    const double N = L.N, M = L.M;
    double it = loop_iters_prologue(cfg, wg);
    for (int k = 0; k < cfg->n_layers; k++) {
        double A = cfg->sizes[k], B = cfg->sizes[k + 1];
        it += 1.0 + cdiv(A * B, wg * S) * (3.0 * N + (N / 8) * 16.0) + cdiv(A * M, wg) +
              cdiv(B * M, wg);
    }
    return it;
}

static double loop_iters_init(const vsml_model_config *cfg, double wg)
{
    return loop_iters_init_split(cfg, wg, 1.0);
}

/* The CPU kernel: invocation tid serves output b = tid % B of a layer and
 * the inputs a = (tid / B) * n + i, i < n = cdiv(A, wg / B); with a split
 * of S workgroups per episode, of its share of cdiv(A, S) inputs. */
static double loop_iters_layer_cpu(const vsml_model_config *cfg, int k, double wg, double S)
{
    double M = VSML_M, A = cdiv(cfg->sizes[k], S), B = cfg->sizes[k + 1], R = floor(wg / B);
    /* A for loop of n iterations counts n + 1 (llvmpipe runs a last masked
     * pass; measured), a do-while n; counted here as for loops (an upper
     * bound). Per round of inputs: the round loop, the message loop (no
     * iterations at layer 0) and the micro tick loop. */
    double per =
        6.0 + 2.0 * R + cdiv(A, R) * (4.0 + (k > 0 ? M + 1.0 : 1.0) + cfg->micro_ticks + 1.0);
    if (k > 0)
        per += (cdiv(A, wg) + 1.0) * (B + 2.0);
    return per;
}

/* The loss and the error of a step (loss_and_error, zero_last_bwd). */
static double loop_iters_loss_cpu(const vsml_model_config *cfg, double wg)
{
    double C = cfg->sizes[cfg->n_layers], M = VSML_M;
    return C * (6.0 + M) + cdiv(C * M, wg) + 4.0;
}

static double loop_iters_per_step_cpu(const vsml_model_config *cfg, double wg)
{
    double it = 1.0, sweeps = cfg->backward_pass ? 2.0 : 1.0;
    for (int k = 0; k < cfg->n_layers; k++)
        it += sweeps * loop_iters_layer_cpu(cfg, k, wg, 1.0);
    return it + loop_iters_loss_cpu(cfg, wg);
}

/* The split mode's longest dispatch: the initial states, or one layer
 * update of one step (plus the loss), whose workgroups copy the weights
 * (extra). */
static double loop_iters_split_cpu(const vsml_model_config *cfg, double wg, double S,
                                   double extra)
{
    double it = loop_iters_init_split(cfg, wg, S);
    for (int k = 0; k < cfg->n_layers; k++) {
        double d = 1.0 + loop_iters_prologue(cfg, wg) + extra +
                   loop_iters_layer_cpu(cfg, k, wg, S) + loop_iters_loss_cpu(cfg, wg);
        it = d > it ? d : it;
    }
    return it;
}

/* Whether the CPU kernel can run this population (NULL: yes, else why not). */
/* The most invocations a workgroup of the cpu kernel may have: the device's
 * limits, and its shared memory (64 bytes per invocation, hpart, and 12
 * more), in multiples of 8. */
static uint32_t cpu_max_wg(const VkPhysicalDeviceLimits *lim)
{
    uint32_t m = lim->maxComputeWorkGroupInvocations < lim->maxComputeWorkGroupSize[0]
                     ? lim->maxComputeWorkGroupInvocations
                     : lim->maxComputeWorkGroupSize[0];
    uint32_t shm = (lim->maxComputeSharedMemorySize - 12) / 64 / 8 * 8;
    return shm < m ? shm : m;
}

static const char *cpu_kernel_unfit(const vsml_pop *pop)
{
    const vsml_model_config *cfg = &pop->cfg;
    const VkPhysicalDeviceLimits *lim = &pop->eng->vk->props.limits;
    if (vsml_state_size(cfg) != 16)
        return "it is built for state size 16";
    if (cfg->per_layer_params && cfg->n_layers > 1)
        return "it reads one parameter block";
    if (!pop->eng->vk->shader_int64)
        return "the device has no 64-bit integers (shaderInt64), which its state stores use";
    if (pop->state_stride / 4 > lim->maxTexelBufferElements ||
        (uint64_t)pop->shape.n_examples * cfg->sizes[0] > lim->maxTexelBufferElements ||
        (uint64_t)pop->shape.P * pop->param_stride / 4 > lim->maxTexelBufferElements)
        return "an episode's state, the example table or the parameter population exceeds the "
               "device's texel buffer limit";
    uint32_t max_wg = cpu_max_wg(lim);
    for (int k = 0; k < cfg->n_layers; k++)
        if ((uint32_t)cfg->sizes[k + 1] > max_wg || cfg->sizes[k + 1] > 1024)
            return "a layer has more outputs than a workgroup has invocations (its shared "
                   "memory included)";
    return NULL;
}

/* The CPU kernel's workgroup size: 64, or the next multiple of 64 that
 * holds the largest layer's outputs. Few distinct sizes, because llvmpipe
 * compiles the kernel for each (about a minute; Mesa's disk cache keeps it). */
static uint32_t cpu_kernel_wg(const vsml_pop *pop, uint32_t max_wg)
{
    uint32_t wg = 64, most = 0;
    for (int k = 0; k < pop->cfg.n_layers; k++) {
        uint32_t B = (uint32_t)pop->cfg.sizes[k + 1];
        most = B > most ? B : most;
        while (B > wg)
            wg += 64;
    }
    wg = wg <= max_wg ? wg : max_wg; /* (a multiple of 8, below the next 64) */
    return most <= wg ? wg : 0;
}

/* The CPU device's threads: llvmpipe runs a dispatch's workgroups on
 * LP_NUM_THREADS threads, by default one per online CPU. */
static int cpu_threads(void)
{
    const char *e = getenv("LP_NUM_THREADS");
    long n = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* The loop iterations of the cpu kernel's longest dispatch of one step
 * (extra: the private weight copy of every dispatch). */
static double cpu_longest_dispatch(const vsml_model_config *cfg, double wg, int split,
                                   double extra)
{
    if (split > 1)
        return loop_iters_split_cpu(cfg, wg, split, extra);
    return loop_iters_per_step_cpu(cfg, wg) + loop_iters_init(cfg, wg) + extra;
}

/* The cpu kernel's workgroup size with a split (S > 1 workgroups per
 * episode). Such a dispatch runs one layer update of one step, and its
 * fixed costs are paid by every subgroup of the workgroup (the private copy
 * of the weights, V[b], the partial sums of h, the barriers), so the
 * workgroup is the smallest (32 to 64 invocations, steps of 8) whose lanes
 * are best used: every subgroup of `sg` lanes is paid for, a lane works
 * when its output b has a full round of inputs. For the 784x10 layer (B =
 * 10) that is 40 rather than 64 (-13% time per step, 1 episode, two
 * workgroups on llvmpipe, 6 alternating runs; no change without a split).
 * Multiples of 8 in [32, 64] keep llvmpipe's compiled variants few (a
 * minute each). If no size in that range holds every layer's outputs, the
 * choice without a split (cpu_kernel_wg). */
static uint32_t cpu_split_wg(const vsml_pop *pop, int S, uint32_t max_wg, uint32_t sg)
{
    const vsml_model_config *cfg = &pop->cfg;
    uint32_t best = 0;
    double best_eff = 0.0;
    sg = sg < 1 ? 1 : sg;
    for (uint32_t wg = 32; wg <= 64 && wg <= max_wg; wg += 8) {
        double lanes = cdiv(wg, sg) * sg, work = 0.0, slots = 0.0;
        bool fits = true;
        for (int k = 0; k < cfg->n_layers; k++) {
            double A = cdiv(cfg->sizes[k], S), B = cfg->sizes[k + 1], R = floor(wg / B);
            if (R < 1) {
                fits = false;
                break;
            }
            work += A * B;
            slots += cdiv(A, R) * lanes;
        }
        if (fits && work / slots > best_eff * 1.005) {
            best = wg;
            best_eff = work / slots;
        }
    }
    return best ? best : cpu_kernel_wg(pop, max_wg);
}

/* Workgroups per episode of the cpu kernel: the engine's setting, else
 * enough that every thread of the CPU device has a workgroup (an episode
 * is one workgroup otherwise, which leaves threads idle when there are
 * fewer episodes than threads). At most the narrowest layer's inputs. */
static int cpu_kernel_split(const vsml_pop *pop)
{
    int S = pop->eng->params.split;
    if (S <= 0) {
        int th = cpu_threads();
        S = pop->R >= th ? 1 : (th + pop->R - 1) / pop->R;
    }
    S = S > VSML_MAX_SPLIT ? VSML_MAX_SPLIT : S;
    for (int k = 0; k < pop->cfg.n_layers; k++)
        S = S > pop->cfg.sizes[k] ? pop->cfg.sizes[k] : S;
    return S < 1 ? 1 : S;
}

/* Serial (one invocation per episode) when an episode's step is short:
 * small networks are then not slowed down by workgroup barriers. */
static bool want_serial(const vsml_pop *pop)
{
    enum vsml_kernel k = pop->eng->params.kernel;
    if (k != VSML_KERNEL_AUTO)
        return k == VSML_KERNEL_SERIAL;
    return loop_iters_per_step(&pop->cfg, 1) * 8 + loop_iters_init(&pop->cfg, 1) <
           LLVMPIPE_LOOP_BUDGET;
}

/* Whether the serial kernel can run this population (NULL: yes, else why
 * not): it reads the parameters and the examples through texel views. */
static const char *serial_kernel_unfit(const vsml_pop *pop)
{
    uint64_t max = pop->eng->vk->props.limits.maxTexelBufferElements;
    if ((uint64_t)pop->shape.P * pop->param_stride / 4 > max ||
        (uint64_t)pop->shape.n_examples * pop->cfg.sizes[0] > max ||
        pop->state_stride > max || pop->scratch_stride > max)
        return "the parameter population, the example table or an episode's state exceeds "
               "the device's texel buffer limit";
    return NULL;
}

/* Picks the kernel, the workgroup size and the steps per dispatch. */
static int plan_dispatch(vsml_pop *pop)
{
    vsml_engine *eng = pop->eng;
    const VkPhysicalDeviceLimits *lim = &eng->vk->props.limits;
    uint32_t max_wg = lim->maxComputeWorkGroupInvocations < lim->maxComputeWorkGroupSize[0]
                          ? lim->maxComputeWorkGroupInvocations
                          : lim->maxComputeWorkGroupSize[0];
    int spd = eng->params.steps_per_dispatch > 0 ? eng->params.steps_per_dispatch
                                                 : DEFAULT_STEPS_PER_DISPATCH;
    uint32_t wg = pop->serial ? (SERIAL_WG < max_wg ? SERIAL_WG : max_wg) : eng->wg;
    uint32_t lanes = pop->serial ? 1 : wg; /* invocations sharing an episode */
    int split = pop->cpu ? cpu_kernel_split(pop) : 1;
    if (pop->cpu) {
        bool fixed = eng->params.workgroup_size > 0;
        max_wg = cpu_max_wg(lim);
        if (fixed && (uint32_t)eng->params.workgroup_size > max_wg) {
            vsml_err("workgroup size %d: the cpu kernel runs at most %u invocations on %s "
                     "(maxComputeWorkGroupInvocations %u, maxComputeWorkGroupSize[0] %u, %u "
                     "bytes of shared memory at 64 per invocation)",
                     eng->params.workgroup_size, max_wg, eng->vk->props.deviceName,
                     lim->maxComputeWorkGroupInvocations, lim->maxComputeWorkGroupSize[0],
                     lim->maxComputeSharedMemorySize);
            return -1;
        }
        wg = fixed       ? (uint32_t)eng->params.workgroup_size
             : split > 1 ? cpu_split_wg(pop, split, max_wg, eng->vk->subgroup_size)
                         : cpu_kernel_wg(pop, max_wg);
        for (int k = 0; k < pop->cfg.n_layers; k++)
            if (wg < (uint32_t)pop->cfg.sizes[k + 1] || wg == 0) {
                vsml_err("the cpu kernel needs a workgroup of at least %d invocations (the "
                         "largest layer's outputs), not %u", pop->cfg.sizes[k + 1], wg);
                return -1;
            }
        /* + the private weight copy of every dispatch (load_whv) */
        double extra = (VSML_N + 1) * VSML_G / 4 + 2;
        /* larger workgroups (+64) until a step fits llvmpipe's loop limit */
        while (!fixed && eng->loop_budget > 0 && wg + 64 <= max_wg &&
               cpu_longest_dispatch(&pop->cfg, wg, split, extra) > eng->loop_budget)
            wg += 64;
        double longest = cpu_longest_dispatch(&pop->cfg, wg, split, extra);
        if (eng->loop_budget > 0 && longest > eng->loop_budget) {
            if (eng->params.kernel == VSML_KERNEL_CPU) {
                vsml_err("one step of this network is too long for llvmpipe's loop limit "
                         "(about %.0f loop iterations per invocation with the cpu kernel; the "
                         "limit is 65535): use smaller layers or the parallel kernel",
                         longest);
                return -1;
            }
            pop->cpu = false; /* the parallel kernel, planned below */
            wg = eng->wg;
            lanes = wg;
        } else if (eng->loop_budget > 0 && split == 1) {
            /* steps per dispatch (with a split, a dispatch is one layer
             * update: vsml_pop_run) */
            double per = loop_iters_per_step_cpu(&pop->cfg, wg);
            double init = loop_iters_init(&pop->cfg, wg) + extra;
            int fit = (int)((eng->loop_budget - init) / per);
            spd = fit < spd ? fit : spd;
        }
    }
    if (!pop->cpu && eng->loop_budget > 0) {
        while (!pop->serial &&
               loop_iters_per_step(&pop->cfg, lanes) + loop_iters_init(&pop->cfg, lanes) >
                   eng->loop_budget && wg * 2 <= max_wg && eng->params.workgroup_size == 0)
            lanes = wg *= 2;
        double per = loop_iters_per_step(&pop->cfg, lanes);
        double init = loop_iters_init(&pop->cfg, lanes);
        if (per + init > eng->loop_budget) {
            vsml_err("one step of this network is too long for llvmpipe's loop limit "
                     "(about %.0f loop iterations per invocation with %u invocations per "
                     "episode; the limit is 65535): use smaller layers%s", per + init, lanes,
                     pop->serial ? " or the parallel kernel" : " or a larger --workgroup-size");
            return -1;
        }
        int fit = (int)((eng->loop_budget - init) / per);
        spd = fit < spd ? fit : spd;
    }
    pop->split = pop->cpu ? split : 1;
    if (!pop->cpu && eng->params.split > 1)
        vsml_warn("split %d ignored: only the cpu kernel divides an episode among workgroups "
                  "(this population runs the %s kernel)",
                  eng->params.split, pop->serial ? "serial" : "parallel");
    if (pop->split > 1)
        spd = 1; /* a dispatch per layer update (vsml_pop_run) */
    pop->wg = wg;
    pop->steps_per_dispatch = spd;
    vsml_dbg("%s kernel, workgroup size %u, %d steps per dispatch, %d-bit state",
             pop->cpu ? "cpu" : pop->serial ? "serial" : "parallel", wg, spd,
             pop->cfg.state_f16 ? 16 : 32);
    /* constant 0: the workgroup size; cpu kernel 1: its largest workgroup;
     * parallel kernel 2: the 16-bit state */
    uint32_t spec[3] = {wg, wg, pop->cfg.state_f16 ? 1u : 0u};
    if (pop->cpu)
        return vk_pipe_create_texel(eng->vk, &pop->step, spv_vsml_step_cpu,
                                    sizeof(spv_vsml_step_cpu), STEP_BINDINGS, CPU_TEXELS,
                                    sizeof(struct vsml_step_pc), spec, 2, "vsml_step_cpu");
    /* one build of vsml_step.comp per state size and kernel */
    static const struct {
        int N;
        bool serial;
        const uint32_t *code;
        size_t size;
        const char *name;
    } kernels[] = {
        {16, false, spv_vsml_step, sizeof(spv_vsml_step), "vsml_step"},
        {16, true, spv_vsml_step_serial, sizeof(spv_vsml_step_serial), "vsml_step_serial"},
        {64, false, spv_vsml_step_n64, sizeof(spv_vsml_step_n64), "vsml_step_n64"},
        {64, true, spv_vsml_step_serial_n64, sizeof(spv_vsml_step_serial_n64),
         "vsml_step_serial_n64"},
    };
    int N = vsml_state_size(&pop->cfg);
    for (size_t i = 0; i < VSML_ARRAY_SIZE(kernels); i++)
        if (kernels[i].N == N && kernels[i].serial == pop->serial)
            return vk_pipe_create_texel(eng->vk, &pop->step, kernels[i].code, kernels[i].size,
                                        STEP_BINDINGS, pop->serial ? SERIAL_TEXELS : 0,
                                        sizeof(struct vsml_step_pc), spec, pop->serial ? 1 : 3,
                                        kernels[i].name);
    vsml_err("no %s step kernel for state size N=%d", pop->serial ? "serial" : "parallel", N);
    return -1;
}

static int check_fits(const vsml_engine *eng, uint64_t bytes, const char *what)
{
    if (bytes > eng->max_range) {
        vsml_err("the %s needs %.1f MiB but device %s allows %.1f MiB per buffer binding; "
                 "make it smaller", what, bytes / 1048576.0, eng->vk->props.deviceName,
                 eng->max_range / 1048576.0);
        return -1;
    }
    return 0;
}

/* All buffers of a population together against the largest device-local
 * memory heap, so that an absurd population is one clear error up front
 * rather than thousands of allocations that exhaust the machine. */
static int check_heap(const vsml_pop *pop, uint64_t fixed)
{
    const vk_ctx *vk = pop->eng->vk;
    uint64_t R = (uint64_t)pop->R, T = (uint64_t)pop->shape.T;
    uint64_t C = (uint64_t)pop->cfg.sizes[pop->cfg.n_layers];
    uint64_t need = fixed + R * 8 + R * VSML_RES_STRIDE * 4 +
                    R * (state_bytes(pop) + (uint64_t)pop->scratch_stride * 4);
    if (pop->shape.outputs & VSML_POP_LOGITS)
        need += R * T * C * 4;
    if (pop->shape.outputs & VSML_POP_LOSSES)
        need += R * T * 4;
    uint64_t heap = 0;
    for (uint32_t i = 0; i < vk->mem.memoryHeapCount; i++)
        if ((vk->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            vk->mem.memoryHeaps[i].size > heap)
            heap = vk->mem.memoryHeaps[i].size;
    /* a CPU device (lavapipe: 2 GiB reported) allocates host memory */
    if (vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        uint64_t mem = vsml_host_memory_bytes();
        heap = mem > heap ? mem : heap;
    }
    if (heap > 0 && need > heap) {
        vsml_err("the population of %llu episodes needs %.1f GiB of device memory but %s has "
                 "%.1f GiB: use fewer episodes (pairs) or smaller layers",
                 (unsigned long long)R, need / 1073741824.0, vk->props.deviceName,
                 heap / 1073741824.0);
        return -1;
    }
    return 0;
}

/* serial, cpu or parallel */
int vsml_kernel_check_state(enum vsml_kernel k, bool state_f16)
{
    if (state_f16 && (k == VSML_KERNEL_SERIAL || k == VSML_KERNEL_CPU)) {
        vsml_err("a 16-bit state (--state-fp16, train key state_fp16) runs on the parallel "
                 "kernel only, not the %s kernel", k == VSML_KERNEL_CPU ? "cpu" : "serial");
        return -1;
    }
    return 0;
}

static int choose_kernel(vsml_pop *pop)
{
    enum vsml_kernel k = pop->eng->params.kernel;
    if (vsml_kernel_check_state(k, pop->cfg.state_f16) != 0)
        return -1;
    if (pop->cfg.state_f16) { /* only the parallel kernel has a 16-bit state */
        pop->serial = pop->cpu = false;
        if (pop->eng->vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU &&
            !pop->eng->warned_f16) {
            vsml_warn("the 16-bit state runs on the parallel kernel, which is much slower on a "
                      "CPU device than the 32-bit state's cpu or serial kernel (it is meant for "
                      "GPUs)");
            pop->eng->warned_f16 = true;
        }
        return 0;
    }
    const char *unfit = cpu_kernel_unfit(pop);
    if (k == VSML_KERNEL_CPU && unfit) {
        vsml_err("the cpu kernel cannot run this network: %s", unfit);
        return -1;
    }
    pop->serial = want_serial(pop);
    const char *serial_unfit = pop->serial ? serial_kernel_unfit(pop) : NULL;
    if (serial_unfit && k == VSML_KERNEL_SERIAL) {
        vsml_err("the serial kernel cannot run this population: %s", serial_unfit);
        return -1;
    }
    if (serial_unfit)
        pop->serial = false;
    pop->cpu = k == VSML_KERNEL_CPU ||
               (k == VSML_KERNEL_AUTO && !pop->serial && !unfit &&
                pop->eng->vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU);
    return 0;
}

static int plan_chunks(vsml_pop *pop)
{
    vsml_engine *eng = pop->eng;
    int C = pop->cfg.sizes[pop->cfg.n_layers];
    uint64_t per_ep = state_bytes(pop);
    if ((uint64_t)pop->scratch_stride * 4 > per_ep)
        per_ep = (uint64_t)pop->scratch_stride * 4;
    if ((pop->shape.outputs & VSML_POP_LOGITS) && (uint64_t)pop->shape.T * C * 4 > per_ep)
        per_ep = (uint64_t)pop->shape.T * C * 4;
    if (check_fits(eng, per_ep, "state of one episode") != 0)
        return -1;
    uint64_t n = eng->max_range / per_ep;
    /* a chunk's dispatch has split workgroups per episode (the cpu kernel) */
    uint32_t maxwg = eng->vk->props.limits.maxComputeWorkGroupCount[0] /
                     (uint32_t)(pop->cpu ? cpu_kernel_split(pop) : 1);
    if (n > maxwg)
        n = maxwg;
    if (eng->params.max_chunk_episodes > 0 && n > (uint64_t)eng->params.max_chunk_episodes)
        n = (uint64_t)eng->params.max_chunk_episodes;
    if (n > (uint64_t)pop->R)
        n = (uint64_t)pop->R;
    /* the cpu kernel views the state as vec4s, the serial kernel the state
     * and the scratch (as floats at most): a chunk's views must fit */
    uint64_t texels = 0;
    if (pop->cpu)
        texels = pop->state_stride / 4;
    else if (pop->serial)
        texels = pop->state_stride > pop->scratch_stride ? pop->state_stride : pop->scratch_stride;
    if (texels && n > eng->vk->props.limits.maxTexelBufferElements / texels)
        n = eng->vk->props.limits.maxTexelBufferElements / texels;
    pop->n_chunks = (int)((pop->R + n - 1) / n);
    pop->chunks = calloc((size_t)pop->n_chunks, sizeof(chunk));
    if (!pop->chunks) {
        vsml_err("out of memory");
        return -1;
    }
    for (int i = 0; i < pop->n_chunks; i++) {
        pop->chunks[i].ep_base = (int)(i * n);
        int rest = pop->R - pop->chunks[i].ep_base;
        pop->chunks[i].n_eps = rest < (int)n ? rest : (int)n;
    }
    return 0;
}

static int create_chunk(vsml_pop *pop, chunk *c, int idx)
{
    vk_ctx *vk = pop->eng->vk;
    int C = pop->cfg.sizes[pop->cfg.n_layers];
    uint64_t ne = (uint64_t)c->n_eps, T = (uint64_t)pop->shape.T;
    char what[64];
    snprintf(what, sizeof(what), "episode state (chunk %d)", idx);
    if (vk_buf_create(vk, &c->state, ne * state_bytes(pop), VK_BUF_DEVICE, what) != 0)
        return -1;
    snprintf(what, sizeof(what), "episode scratch (chunk %d)", idx);
    if (vk_buf_create(vk, &c->scratch, ne * pop->scratch_stride * 4, VK_BUF_DEVICE, what) != 0)
        return -1;
    bool lg = pop->shape.outputs & VSML_POP_LOGITS, ls = pop->shape.outputs & VSML_POP_LOSSES;
    if (vk_buf_create(vk, &c->logits, lg ? ne * T * C * 4 : 16, VK_BUF_DEVICE, "logits") != 0 ||
        vk_buf_create(vk, &c->losses, ls ? ne * T * 4 : 16, VK_BUF_DEVICE, "losses") != 0)
        return -1;
    if (vk_desc_alloc(vk, pop->pool, &pop->step, &c->set) != 0)
        return -1;
    vk_buf *b[STEP_BINDINGS] = {&pop->params, &pop->lay, &pop->x, &pop->stream, &pop->epinfo,
                                &c->state, &c->scratch, &pop->results, &c->logits, &c->losses};
    vk_desc_write(vk, c->set, &pop->step, b, STEP_BINDINGS);
    if (pop->cpu) {
        if (vk_texel_view_create(vk, &c->state, VK_FORMAT_R32G32B32A32_SFLOAT, &c->state_view))
            return -1;
        vk_desc_write_texel(vk, c->set, &pop->step, 0, c->state_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 1, pop->x_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 2, pop->params_view);
    } else if (pop->serial) {
        /* N = 16: the state as vec4 quads (the cpu kernel's layout), else floats */
        VkFormat sf = vsml_state_size(&pop->cfg) <= 16 ? VK_FORMAT_R32G32B32A32_SFLOAT
                                                       : VK_FORMAT_R32_SFLOAT;
        if (vk_texel_view_create(vk, &c->state, sf, &c->state_view) ||
            vk_texel_view_create(vk, &c->scratch, VK_FORMAT_R32_SFLOAT, &c->scratch_view) ||
            vk_texel_view_create(vk, &c->scratch, VK_FORMAT_R32G32B32A32_SFLOAT,
                                 &c->scratch4_view))
            return -1;
        vk_desc_write_texel(vk, c->set, &pop->step, 0, pop->params_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 1, pop->x_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 2, c->state_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 3, c->scratch_view);
        vk_desc_write_texel(vk, c->set, &pop->step, 4, c->scratch4_view);
    }
    return 0;
}

int vsml_pop_create(vsml_engine *eng, const vsml_model_config *cfg, const vsml_pop_shape *shape,
                    vsml_pop **out)
{
    *out = NULL;
    if (vsml_model_config_check(cfg) != 0)
        return -1;
    if (cfg->n_layers > VSML_SHADER_MAX_LAYERS || shape->P < 1 || shape->E < 1 || shape->T < 1 ||
        shape->n_examples < 1 || shape->n_streams < 1 ||
        (long long)shape->P * shape->E > (1ll << 30)) {
        vsml_err("invalid population: P=%d E=%d T=%d, %d examples, %d streams", shape->P,
                 shape->E, shape->T, shape->n_examples, shape->n_streams);
        return -1;
    }
    vsml_pop *pop = calloc(1, sizeof(*pop));
    if (!pop) {
        vsml_err("out of memory");
        return -1;
    }
    vk_ctx *vk = eng->vk;
    pop->eng = eng;
    pop->cfg = *cfg;
    pop->shape = *shape;
    pop->R = shape->P * shape->E;
    pop->param_stride = (uint32_t)vsml_param_count(cfg);
    if (plan_layout(pop) != 0)
        goto fail;
    uint64_t R = (uint64_t)pop->R, dim = (uint64_t)cfg->sizes[0];
    uint64_t pbytes = (uint64_t)shape->P * pop->param_stride * 4;
    uint64_t xbytes = (uint64_t)shape->n_examples * dim * 4;
    uint64_t sbytes = (uint64_t)shape->n_streams * shape->T * 8;
    if (check_fits(eng, pbytes, "parameter population") != 0 ||
        check_fits(eng, xbytes, "dataset table") != 0 ||
        check_fits(eng, sbytes, "example stream") != 0 || check_fits(eng, R * 16, "results") != 0 ||
        choose_kernel(pop) != 0 || plan_chunks(pop) != 0 || plan_dispatch(pop) != 0 ||
        check_heap(pop, pbytes + xbytes + sbytes) != 0)
        goto fail;
    if (vk_buf_create(vk, &pop->params, pbytes, VK_BUF_DEVICE, "parameters") != 0 ||
        vk_buf_create(vk, &pop->lay, sizeof(pop->layout), VK_BUF_DEVICE, "layout") != 0 ||
        vk_buf_create(vk, &pop->x, xbytes, VK_BUF_DEVICE, "dataset table") != 0 ||
        vk_buf_create(vk, &pop->stream, sbytes, VK_BUF_DEVICE, "example stream") != 0 ||
        vk_buf_create(vk, &pop->epinfo, R * 8, VK_BUF_DEVICE, "episode table") != 0 ||
        vk_buf_create(vk, &pop->results, R * VSML_RES_STRIDE * 4, VK_BUF_HOST, "results") != 0)
        goto fail;
    if (vk_buf_write(vk, &pop->lay, 0, pop->layout, sizeof(pop->layout)) != 0)
        goto fail;
    if (vk_desc_pool_create_texel(vk, &pop->pool, pop->n_chunks, pop->n_chunks * STEP_BINDINGS,
                                  pop->cpu      ? CPU_TEXELS * pop->n_chunks
                                  : pop->serial ? SERIAL_TEXELS * pop->n_chunks
                                                : 0) != 0)
        goto fail;
    if ((pop->cpu || pop->serial) &&
        vk_texel_view_create(vk, &pop->x, VK_FORMAT_R32_SFLOAT, &pop->x_view) != 0)
        goto fail;
    if ((pop->cpu || pop->serial) &&
        vk_texel_view_create(vk, &pop->params, VK_FORMAT_R32G32B32A32_SFLOAT,
                             &pop->params_view) != 0)
        goto fail;
    for (int i = 0; i < pop->n_chunks; i++)
        if (create_chunk(pop, &pop->chunks[i], i) != 0)
            goto fail;
    if (vk->timestamp_bits) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2};
        VK_CHECK(vkCreateQueryPool(vk->dev, &qi, NULL, &pop->queries));
    }
    vsml_dbg("population: %d episodes in %d chunk(s), %.1f MiB state per episode", pop->R,
             pop->n_chunks, (double)state_bytes(pop) / 1048576.0);
    *out = pop;
    return 0;
error:
fail:
    vsml_pop_destroy(&pop);
    return -1;
}

void vsml_pop_destroy(vsml_pop **ppop)
{
    vsml_pop *pop = *ppop;
    if (!pop)
        return;
    vk_ctx *vk = pop->eng->vk;
    if (vk->stuck) {
        /* after a fence timeout a pending command buffer may still use every
         * object: they are left, as vk_ctx_destroy leaves the device */
        free(pop->chunks);
        free(pop);
        *ppop = NULL;
        return;
    }
    vkDeviceWaitIdle(vk->dev);
    for (int i = 0; pop->chunks && i < pop->n_chunks; i++) {
        if (pop->chunks[i].state_view)
            vkDestroyBufferView(vk->dev, pop->chunks[i].state_view, NULL);
        if (pop->chunks[i].scratch_view)
            vkDestroyBufferView(vk->dev, pop->chunks[i].scratch_view, NULL);
        if (pop->chunks[i].scratch4_view)
            vkDestroyBufferView(vk->dev, pop->chunks[i].scratch4_view, NULL);
        vk_buf_destroy(vk, &pop->chunks[i].state);
        vk_buf_destroy(vk, &pop->chunks[i].scratch);
        vk_buf_destroy(vk, &pop->chunks[i].logits);
        vk_buf_destroy(vk, &pop->chunks[i].losses);
    }
    free(pop->chunks);
    vk_pipe_destroy(vk, &pop->step);
    vk_pipe_destroy(vk, &pop->perturb);
    vk_buf_destroy(vk, &pop->theta);
    if (pop->perturb_pool)
        vkDestroyDescriptorPool(vk->dev, pop->perturb_pool, NULL);
    if (pop->pool)
        vkDestroyDescriptorPool(vk->dev, pop->pool, NULL);
    if (pop->queries)
        vkDestroyQueryPool(vk->dev, pop->queries, NULL);
    if (pop->x_view)
        vkDestroyBufferView(vk->dev, pop->x_view, NULL);
    if (pop->params_view)
        vkDestroyBufferView(vk->dev, pop->params_view, NULL);
    vk_buf *bufs[] = {&pop->params, &pop->lay, &pop->x, &pop->stream, &pop->epinfo, &pop->results};
    for (size_t i = 0; i < VSML_ARRAY_SIZE(bufs); i++)
        vk_buf_destroy(vk, bufs[i]);
    free(pop);
    *ppop = NULL;
}

int vsml_pop_chunks(const vsml_pop *pop)
{
    return pop->n_chunks;
}

int vsml_pop_set_params(vsml_pop *pop, const float *params)
{
    return vk_buf_write(pop->eng->vk, &pop->params, 0, params,
                        (size_t)pop->shape.P * pop->param_stride * 4);
}

int vsml_pop_set_data_rows(vsml_pop *pop, const float *x, int rows)
{
    if (rows < 0 || rows > pop->shape.n_examples) {
        vsml_err("%d example rows for a table of %d", rows, pop->shape.n_examples);
        return -1;
    }
    return rows == 0 ? 0
                     : vk_buf_write(pop->eng->vk, &pop->x, 0, x,
                                    (size_t)rows * pop->cfg.sizes[0] * 4);
}

int vsml_pop_set_data(vsml_pop *pop, const float *x)
{
    return vsml_pop_set_data_rows(pop, x, pop->shape.n_examples);
}

int vsml_pop_set_episodes(vsml_pop *pop, const int32_t *stream, const uint32_t *ep_stream,
                          const uint32_t *ep_init)
{
    vk_ctx *vk = pop->eng->vk;
    size_t R = (size_t)pop->R;
    uint32_t *info = malloc(R * 8);
    if (!info) {
        vsml_err("out of memory");
        return -1;
    }
    for (size_t r = 0; r < R; r++) {
        info[2 * r] = ep_stream[r];
        info[2 * r + 1] = ep_init[r];
    }
    int rc = vk_buf_write(vk, &pop->stream, 0, stream,
                          (size_t)pop->shape.n_streams * pop->shape.T * 8);
    if (rc == 0)
        rc = vk_buf_write(vk, &pop->epinfo, 0, info, R * 8);
    free(info);
    return rc;
}

static int perturb_setup(vsml_pop *pop)
{
    vk_ctx *vk = pop->eng->vk;
    uint32_t spec[1] = {PERTURB_WG};
    if (vk_pipe_create(vk, &pop->perturb, spv_es_perturb, sizeof(spv_es_perturb), 2,
                       sizeof(struct vsml_perturb_pc), spec, 1, "es_perturb") != 0 ||
        vk_buf_create(vk, &pop->theta, (VkDeviceSize)pop->param_stride * 4, VK_BUF_DEVICE,
                      "ES centre") != 0 ||
        vk_desc_pool_create(vk, &pop->perturb_pool, 1, 2) != 0 ||
        vk_desc_alloc(vk, pop->perturb_pool, &pop->perturb, &pop->perturb_set) != 0)
        return -1;
    vk_buf *b[2] = {&pop->theta, &pop->params};
    vk_desc_write(vk, pop->perturb_set, &pop->perturb, b, 2);
    return 0;
}

int vsml_pop_set_es_params(vsml_pop *pop, const float *theta, float sigma, uint64_t seed,
                           uint32_t step, uint32_t pair_base)
{
    vk_ctx *vk = pop->eng->vk;
    if (pop->shape.P % 2 != 0) {
        vsml_err("ES populations need an even number of parameter vectors (got %d)",
                 pop->shape.P);
        return -1;
    }
    if (!pop->perturb.pipe && perturb_setup(pop) != 0)
        return -1;
    if (vk_buf_write(vk, &pop->theta, 0, theta, (size_t)pop->param_stride * 4) != 0)
        return -1;
    VkCommandBuffer cb;
    if (vk_cmd_begin(vk, &cb) != 0)
        return -1;
    struct vsml_perturb_pc pc = {
        .n_params = pop->param_stride,
        .n_pairs = (uint32_t)pop->shape.P / 2,
        .seed_lo = (uint32_t)seed,
        .seed_hi = (uint32_t)(seed >> 32),
        .step = step,
        .pair_base = pair_base,
        .sigma = sigma,
    };
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pop->perturb.pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pop->perturb.layout, 0, 1,
                            &pop->perturb_set, 0, NULL);
    vkCmdPushConstants(cb, pop->perturb.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(pc), &pc);
    vkCmdDispatch(cb, (pop->param_stride + 2 * PERTURB_WG - 1) / (2 * PERTURB_WG),
                  (pc.n_pairs + VSML_PERTURB_PAIRS - 1) / VSML_PERTURB_PAIRS, 1);
    vk_cmd_barrier(cb);
    return vk_cmd_submit_wait(vk, cb);
}

int vsml_pop_get_params(vsml_pop *pop, float *params)
{
    return vk_buf_read(pop->eng->vk, &pop->params, 0, params,
                       (size_t)pop->shape.P * pop->param_stride * 4);
}

static uint32_t pc_flags(const vsml_pop *pop)
{
    const vsml_model_config *cfg = &pop->cfg;
    uint32_t f = 0;
    f |= cfg->feed_label ? VSML_FLAG_FEED_LABEL : 0;
    f |= cfg->backward_pass ? VSML_FLAG_BACKWARD_PASS : 0;
    f |= cfg->per_layer_params ? VSML_FLAG_PER_LAYER : 0;
    f |= cfg->clip_state > 0.0f ? VSML_FLAG_CLIP : 0;
    f |= cfg->init_mode == VSML_INIT_ZEROS ? VSML_FLAG_INIT_ZEROS : 0;
    f |= (pop->shape.outputs & VSML_POP_LOGITS) ? VSML_FLAG_WRITE_LOGITS : 0;
    f |= (pop->shape.outputs & VSML_POP_LOSSES) ? VSML_FLAG_WRITE_LOSS : 0;
    f |= cfg->clear_bwd ? VSML_FLAG_CLEAR_BWD : 0;
    return f;
}

/* One dispatch per chunk, then a barrier: per_ep workgroups per episode
 * (the serial kernel: an invocation per episode). */
static int dispatch_chunks(vsml_pop *pop, VkCommandBuffer cb, struct vsml_step_pc *pc,
                           uint32_t per_ep)
{
    for (int i = 0; i < pop->n_chunks; i++) {
        chunk *c = &pop->chunks[i];
        pc->ep_base = (uint32_t)c->ep_base;
        pc->n_eps = (uint32_t)c->n_eps;
        /* bound again only when it changes: lavapipe rebinds every buffer
         * and image of a set that is bound (the split mode's dispatch per
         * step binds the same set) */
        if (c->set != pop->bound)
            vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pop->step.layout, 0, 1,
                                    &c->set, 0, NULL);
        pop->bound = c->set;
        vkCmdPushConstants(cb, pop->step.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(*pc), pc);
        vkCmdDispatch(cb,
                      pop->serial ? ((uint32_t)c->n_eps + pop->wg - 1) / pop->wg
                                  : (uint32_t)c->n_eps * per_ep,
                      1, 1);
    }
    vk_cmd_barrier(cb);
    return pop->n_chunks;
}

/* The cpu kernel with split workgroups per episode (VSML_MAX_SPLIT in
 * shader_iface.h): the initial states (a dispatch of no steps, each
 * workgroup a share of the sub-LSTMs), then a dispatch per step and sweep
 * (the micro ticks on the workgroups, the messages and the loss in the last
 * workgroup of the episode to finish).
 * Returns the number of dispatches. */
static int record_split(vsml_pop *pop, VkCommandBuffer cb, struct vsml_step_pc *pc, int t0,
                        int n_steps, bool init)
{
    int n = 0, n_sweep = pop->cfg.backward_pass ? 2 * pop->cfg.n_layers : pop->cfg.n_layers;
    if (init) {
        pc->init_state = 1;
        pc->t0 = (uint32_t)t0;
        pc->n_steps = 0;
        n += dispatch_chunks(pop, cb, pc, (uint32_t)pop->split);
        pc->init_state = 0;
    }
    pc->n_steps = 1;
    for (int t = t0; t < t0 + n_steps; t++)
        for (int sw = 0; sw < n_sweep; sw++) {
            pc->t0 = (uint32_t)t;
            pc->sweep = (uint32_t)sw;
            n += dispatch_chunks(pop, cb, pc, (uint32_t)pop->split);
        }
    return n;
}

int vsml_pop_run(vsml_pop *pop, uint64_t seed, int t0, int n_steps, bool init,
                 vsml_run_stats *stats)
{
    vsml_engine *eng = pop->eng;
    vk_ctx *vk = eng->vk;
    if (t0 < 0 || n_steps < 1 || t0 + n_steps > pop->shape.T) {
        vsml_err("steps [%d, %d) are outside the episode length %d", t0, t0 + n_steps,
                 pop->shape.T);
        return -1;
    }
    if (!init && !pop->started) {
        vsml_err("steps [%d, %d) continue episodes that no run has started: the first run "
                 "of a population starts them (init)", t0, t0 + n_steps);
        return -1;
    }
    double w0 = vsml_now();
    int slice = pop->steps_per_dispatch;
    VkCommandBuffer cb;
    if (vk_cmd_begin(vk, &cb) != 0)
        return -1;
    if (pop->queries) {
        vkCmdResetQueryPool(cb, pop->queries, 0, 2);
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pop->queries, 0);
    }
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pop->step.pipe);
    pop->bound = VK_NULL_HANDLE;
    struct vsml_step_pc pc = {
        .T = (uint32_t)pop->shape.T,
        .n_layers = (uint32_t)pop->cfg.n_layers,
        .micro_ticks = (uint32_t)pop->cfg.micro_ticks,
        .flags = pc_flags(pop),
        .clip = pop->cfg.clip_state,
        .seed_lo = (uint32_t)seed,
        .seed_hi = (uint32_t)(seed >> 32),
        .E = (uint32_t)pop->shape.E,
        .n_classes = (uint32_t)pop->cfg.sizes[pop->cfg.n_layers],
        .dim = (uint32_t)pop->cfg.sizes[0],
        .state_stride = pop->state_stride,
        .scratch_stride = pop->scratch_stride,
        .param_stride = pop->param_stride,
        .split = (uint32_t)pop->split,
        .zero = 0, /* must stay 0: the tick's run-time zero (ZT_TICK) */
    };
    int dispatches = 0;
    if (pop->split > 1)
        dispatches = record_split(pop, cb, &pc, t0, n_steps, init);
    else
        for (int t = t0; t < t0 + n_steps; t += slice) {
            pc.t0 = (uint32_t)t;
            pc.n_steps = (uint32_t)(t0 + n_steps - t < slice ? t0 + n_steps - t : slice);
            pc.init_state = init && t == t0;
            dispatches += dispatch_chunks(pop, cb, &pc, 1);
        }
    if (pop->queries)
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pop->queries, 1);
    if (vk_cmd_submit_wait(vk, cb) != 0)
        return -1;
    pop->started |= init;
    if (stats) {
        stats->wall_s = vsml_now() - w0;
        stats->dispatches = dispatches;
        stats->device_s = 0.0;
        uint64_t ts[2];
        if (pop->queries &&
            vkGetQueryPoolResults(vk->dev, pop->queries, 0, 2, sizeof(ts), ts, 8,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
            uint64_t mask = vk->timestamp_bits >= 64 ? ~0ull : (1ull << vk->timestamp_bits) - 1;
            stats->device_s = (double)((ts[1] - ts[0]) & mask) *
                              vk->props.limits.timestampPeriod * 1e-9;
        }
    }
    return 0;
}

int vsml_pop_read(vsml_pop *pop, const vsml_rollout_out *out)
{
    vk_ctx *vk = pop->eng->vk;
    size_t R = (size_t)pop->R, T = (size_t)pop->shape.T;
    size_t C = (size_t)pop->cfg.sizes[pop->cfg.n_layers];
    float *res = malloc(R * VSML_RES_STRIDE * 4);
    if (!res) {
        vsml_err("out of memory");
        return -1;
    }
    if (vk_buf_read(vk, &pop->results, 0, res, R * VSML_RES_STRIDE * 4) != 0) {
        free(res);
        return -1;
    }
    for (size_t r = 0; r < R; r++) {
        const float *e = res + r * VSML_RES_STRIDE;
        if (out->loss_sum)
            out->loss_sum[r] = e[VSML_RES_LOSS_SUM];
        if (out->loss_last)
            out->loss_last[r] = e[VSML_RES_LOSS_LAST];
        if (out->correct)
            out->correct[r] = e[VSML_RES_CORRECT];
        if (out->nonfinite)
            out->nonfinite[r] = e[VSML_RES_NONFINITE];
    }
    free(res);
    for (int i = 0; i < pop->n_chunks; i++) {
        chunk *c = &pop->chunks[i];
        size_t base = (size_t)c->ep_base, n = (size_t)c->n_eps;
        if (out->logits && (pop->shape.outputs & VSML_POP_LOGITS) &&
            vk_buf_read(vk, &c->logits, 0, out->logits + base * T * C, n * T * C * 4) != 0)
            return -1;
        if (out->loss && (pop->shape.outputs & VSML_POP_LOSSES) &&
            vk_buf_read(vk, &c->losses, 0, out->loss + base * T, n * T * 4) != 0)
            return -1;
    }
    return 0;
}

int vsml_engine_rollout(vsml_engine *eng, const vsml_model_config *cfg, const float *params,
                        const vsml_episodes *ep, const vsml_rollout_out *out,
                        vsml_run_stats *stats)
{
    if (vsml_model_config_check(cfg) != 0 || vsml_episodes_check(cfg, ep) != 0)
        return -1;
    vsml_pop_shape shape = {
        .P = ep->P, .E = ep->E, .T = ep->T,
        .n_examples = ep->n_examples, .n_streams = ep->n_streams,
        .outputs = (out->logits ? VSML_POP_LOGITS : 0) | (out->loss ? VSML_POP_LOSSES : 0),
    };
    vsml_pop *pop;
    if (vsml_pop_create(eng, cfg, &shape, &pop) != 0)
        return -1;
    int rc = -1;
    if (vsml_pop_set_params(pop, params) == 0 && vsml_pop_set_data(pop, ep->x) == 0 &&
        vsml_pop_set_episodes(pop, ep->stream, ep->ep_stream, ep->ep_init) == 0 &&
        vsml_pop_run(pop, ep->seed, 0, ep->T, true, stats) == 0 && vsml_pop_read(pop, out) == 0)
        rc = 0;
    vsml_pop_destroy(&pop);
    return rc;
}

void vsml_pop_plan(const vsml_pop *pop, vsml_pop_plan_info *out)
{
    out->serial = pop->serial;
    out->kernel = pop->cpu ? VSML_KERNEL_CPU
                  : pop->serial ? VSML_KERNEL_SERIAL
                                : VSML_KERNEL_PARALLEL;
    out->workgroup_size = pop->wg;
    out->steps_per_dispatch = pop->steps_per_dispatch;
    out->chunks = pop->n_chunks;
    out->split = pop->split;
    out->state_f16 = pop->cfg.state_f16;
}

struct vk_ctx *vsml_engine_vk(vsml_engine *eng)
{
    return eng->vk;
}

const struct vk_buf *vsml_pop_logits_buf(const vsml_pop *pop, int r, uint64_t *offset)
{
    if (!(pop->shape.outputs & VSML_POP_LOGITS) || r < 0 || r >= pop->R)
        return NULL;
    for (int i = 0; i < pop->n_chunks; i++) {
        const chunk *c = &pop->chunks[i];
        if (r < c->ep_base + c->n_eps) {
            *offset = (uint64_t)(r - c->ep_base) * pop->shape.T *
                      pop->cfg.sizes[pop->cfg.n_layers] * 4;
            return &c->logits;
        }
    }
    return NULL;
}
