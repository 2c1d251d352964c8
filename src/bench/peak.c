/* The device's own fp32 peak (FMA chains) and bandwidth (copy), measured
 * with timestamp queries around single dispatches, in the manner of
 * vkpeak/clpeak. Both kernels' outputs are checked (an FMA chain of
 * fma(a, 1, 2^-20) gives a + n 2^-20 exactly; a copy must copy), so a
 * driver that cuts loops short (llvmpipe's 65,535 iteration limit) or
 * skips work cannot report a higher peak. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_copy.spv.h"
#include "bench_fma2.spv.h"
#include "bench_fma8.spv.h"
#include "vk/vk.h"
#include "vsml/bench.h"
#include "vsml/log.h"
#include "vsml/util.h"

#define FMA_BLOCK 32     /* BLOCK in bench_fma.comp */
#define MAX_ITERS 16384  /* loop iterations per invocation: below 65,535 */
#define FMA_C (1.0f / 1048576.0f)

typedef struct timer {
    vk_ctx *vk;
    VkQueryPool q;
} timer;

/* Records one dispatch between two timestamps, waits, returns device
 * seconds (wall seconds when the queue has no timestamps). */
static int timed_dispatch(timer *t, const vk_pipe *p, VkDescriptorSet set, const void *pc,
                          uint32_t pc_size, uint32_t groups, double *secs)
{
    vk_ctx *vk = t->vk;
    VkCommandBuffer cb;
    if (vk_cmd_begin(vk, &cb) != 0)
        return -1;
    if (t->q) {
        vkCmdResetQueryPool(cb, t->q, 0, 2);
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, t->q, 0);
    }
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_size, pc);
    vkCmdDispatch(cb, groups, 1, 1);
    vk_cmd_barrier(cb);
    if (t->q)
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, t->q, 1);
    double w0 = vsml_now();
    if (vk_cmd_submit_wait(vk, cb) != 0)
        return -1;
    *secs = vsml_now() - w0;
    uint64_t ts[2];
    if (t->q && vkGetQueryPoolResults(vk->dev, t->q, 0, 2, sizeof(ts), ts, 8,
                                      VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) ==
                    VK_SUCCESS) {
        uint64_t mask = vk->timestamp_bits >= 64 ? ~0ull : (1ull << vk->timestamp_bits) - 1;
        *secs = (double)((ts[1] - ts[0]) & mask) * vk->props.limits.timestampPeriod * 1e-9;
    }
    return 0;
}

typedef struct fma_pc {
    uint32_t iters;
    float b, c;
} fma_pc;

/* The exact result of invocation id (see bench_fma.comp). */
static double fma_expected(uint32_t id, int chains, uint32_t iters, int lane)
{
    double s = 0, n = (double)iters * FMA_BLOCK;
    for (int k = 0; k < chains; k++) {
        float a0 = (float)(id & 255u) * 1e-3f + 0.25f * (float)lane + (float)k * 0.125f;
        s += (double)a0 + n * FMA_C;
    }
    return s;
}

static int fma_variant(vk_ctx *vk, timer *t, int chains, const uint32_t *spv, size_t spv_bytes,
                       uint32_t wg, uint32_t groups, double target_s, int reps,
                       vsml_bench_peak *best)
{
    int rc = -1;
    vk_pipe p = {0};
    vk_buf out = {0};
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VkDescriptorSet set;
    uint32_t spec[1] = {wg};
    uint64_t inv = (uint64_t)wg * groups;
    if (vk_pipe_create(vk, &p, spv, spv_bytes, 1, sizeof(fma_pc), spec, 1, "bench_fma") != 0 ||
        vk_buf_create(vk, &out, inv * 16, VK_BUF_DEVICE, "FMA benchmark output") != 0 ||
        vk_desc_pool_create(vk, &pool, 1, 1) != 0 || vk_desc_alloc(vk, pool, &p, &set) != 0)
        goto out;
    vk_buf *b[1] = {&out};
    vk_desc_write(vk, set, &p, b, 1);
    fma_pc pc = {.iters = 8, .b = 1.0f, .c = FMA_C};
    double s = 0;
    /* grow the loop until one dispatch takes target_s */
    for (;;) {
        if (timed_dispatch(t, &p, set, &pc, sizeof(pc), groups, &s) != 0)
            goto out;
        if (s >= target_s || pc.iters >= MAX_ITERS)
            break;
        double f = s > 0 ? target_s / s * 1.2 : 16.0;
        uint64_t next = (uint64_t)(pc.iters * (f < 16.0 ? (f > 2.0 ? f : 2.0) : 16.0));
        pc.iters = (uint32_t)(next < MAX_ITERS ? next : MAX_ITERS);
    }
    double ts[VSML_BENCH_MAX_REPS];
    for (int r = 0; r < reps; r++)
        if (timed_dispatch(t, &p, set, &pc, sizeof(pc), groups, &ts[r]) != 0)
            goto out;
    float v[2][4];
    if (vk_buf_read(vk, &out, 0, v[0], 16) != 0 ||
        vk_buf_read(vk, &out, (inv - 1) * 16, v[1], 16) != 0)
        goto out;
    for (int w = 0; w < 2; w++)
        for (int lane = 0; lane < 4; lane++) {
            double e = fma_expected(w ? (uint32_t)(inv - 1) : 0, chains, pc.iters, lane);
            if (!(fabs(v[w][lane] - e) <= 1e-3 * fabs(e))) {
                vsml_err("the FMA microbenchmark computed %g instead of %g (invocation %llu): "
                         "the device skipped work, its peak cannot be measured",
                         v[w][lane], e, w ? (unsigned long long)(inv - 1) : 0ull);
                goto out;
            }
        }
    vsml_bench_stat st = vsml_bench_stats(ts, reps);
    double flop = (double)inv * pc.iters * FMA_BLOCK * chains * 4 * 2;
    double gf = st.median > 0 ? flop / st.median * 1e-9 : 0;
    vsml_dbg("FMA x%d: %u invocations, %u iterations: %.3f ms, %.1f GFLOP/s", chains,
             (unsigned)inv, pc.iters, st.median * 1e3, gf);
    if (gf > best->fma_gflops) {
        best->fma_gflops = gf;
        best->fma_s = st.median;
        best->fma_chains = chains;
        best->fma_invocations = (long long)inv;
    }
    rc = 0;
out:
    if (pool && !vk->stuck) /* (a pending command buffer may still use it) */
        vkDestroyDescriptorPool(vk->dev, pool, NULL);
    vk_buf_destroy(vk, &out);
    vk_pipe_destroy(vk, &p);
    return rc;
}

static int copy_run(vk_ctx *vk, timer *t, uint32_t wg, bool quick, int reps, vsml_bench_peak *pk)
{
    int rc = -1;
    vk_pipe p = {0};
    vk_buf src = {0}, dst = {0};
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VkDescriptorSet set;
    bool cpu = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    uint64_t bytes = quick ? 16ull << 20 : cpu ? 64ull << 20 : 1ull << 30;
    if (bytes > vk->props.limits.maxStorageBufferRange)
        bytes = vk->props.limits.maxStorageBufferRange;
    bytes &= ~(uint64_t)15;
    uint64_t n = bytes / 16;
    uint64_t want = (n + (uint64_t)wg * 16 - 1) / ((uint64_t)wg * 16); /* ~16 vec4 each */
    uint32_t maxg = vk->props.limits.maxComputeWorkGroupCount[0];
    uint32_t groups = (uint32_t)(want < maxg ? want : maxg);
    if (n / ((uint64_t)groups * wg) > 60000) {
        vsml_err("the copy benchmark would loop too often per invocation on this device");
        return -1;
    }
    uint32_t spec[1] = {wg};
    if (vk_pipe_create(vk, &p, spv_bench_copy, sizeof(spv_bench_copy), 2, 4, spec, 1,
                       "bench_copy") != 0 ||
        vk_buf_create(vk, &src, bytes, VK_BUF_DEVICE, "copy benchmark source") != 0 ||
        vk_buf_create(vk, &dst, bytes, VK_BUF_DEVICE, "copy benchmark destination") != 0 ||
        vk_desc_pool_create(vk, &pool, 1, 2) != 0 || vk_desc_alloc(vk, pool, &p, &set) != 0)
        goto out;
    vk_buf *b[2] = {&src, &dst};
    vk_desc_write(vk, set, &p, b, 2);
    VkCommandBuffer cb;
    if (vk_cmd_begin(vk, &cb) != 0)
        goto out;
    vkCmdFillBuffer(cb, src.buf, 0, VK_WHOLE_SIZE, 0x3fc00000u); /* 1.5f */
    vkCmdFillBuffer(cb, dst.buf, 0, VK_WHOLE_SIZE, 0);
    vk_cmd_barrier(cb);
    if (vk_cmd_submit_wait(vk, cb) != 0)
        goto out;
    uint32_t pc = (uint32_t)n;
    double ts[VSML_BENCH_MAX_REPS], s;
    if (timed_dispatch(t, &p, set, &pc, 4, groups, &s) != 0) /* warm-up */
        goto out;
    for (int r = 0; r < reps; r++)
        if (timed_dispatch(t, &p, set, &pc, 4, groups, &ts[r]) != 0)
            goto out;
    float v[2][4];
    if (vk_buf_read(vk, &dst, 0, v[0], 16) != 0 || vk_buf_read(vk, &dst, bytes - 16, v[1], 16))
        goto out;
    for (int i = 0; i < 8; i++)
        if (v[i / 4][i % 4] != 1.5f) {
            vsml_err("the copy microbenchmark did not copy (read %g): the device's bandwidth "
                     "cannot be measured", v[i / 4][i % 4]);
            goto out;
        }
    vsml_bench_stat st = vsml_bench_stats(ts, reps);
    pk->copy_s = st.median;
    pk->copy_bytes = (long long)(2 * bytes);
    pk->copy_gbs = st.median > 0 ? 2.0 * (double)bytes / st.median * 1e-9 : 0;
    rc = 0;
out:
    if (pool && !vk->stuck) /* (a pending command buffer may still use it) */
        vkDestroyDescriptorPool(vk->dev, pool, NULL);
    vk_buf_destroy(vk, &src);
    vk_buf_destroy(vk, &dst);
    vk_pipe_destroy(vk, &p);
    return rc;
}

int vsml_bench_peak_run(const char *device, bool validation, bool quick, int reps,
                        vsml_bench_peak *out)
{
    memset(out, 0, sizeof(*out));
    if (reps < 1 || reps > VSML_BENCH_MAX_REPS) {
        vsml_err("repetitions must be 1..%d", VSML_BENCH_MAX_REPS);
        return -1;
    }
    vk_ctx *vk = NULL;
    vk_ctx_params vp = {.device = device, .validation = validation};
    if (vk_ctx_create(&vk, &vp) != 0)
        return -1;
    int rc = -1;
    timer t = {.vk = vk};
    if (vk->timestamp_bits) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2};
        VK_CHECK(vkCreateQueryPool(vk->dev, &qi, NULL, &t.q));
    }
    out->timestamps = t.q != VK_NULL_HANDLE;
    const VkPhysicalDeviceLimits *lim = &vk->props.limits;
    bool cpu = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    uint32_t wg = cpu ? 64 : 256;
    if (wg > lim->maxComputeWorkGroupInvocations)
        wg = lim->maxComputeWorkGroupInvocations;
    if (wg > lim->maxComputeWorkGroupSize[0])
        wg = lim->maxComputeWorkGroupSize[0];
    /* enough invocations to fill any GPU (a few per lane of the largest
     * ones); a CPU runs a workgroup per thread */
    uint32_t groups = cpu ? 64 : 8192;
    if (groups > lim->maxComputeWorkGroupCount[0])
        groups = lim->maxComputeWorkGroupCount[0];
    double target = quick ? 0.005 : cpu ? 0.1 : 0.02;
    if (fma_variant(vk, &t, 2, spv_bench_fma2, sizeof(spv_bench_fma2), wg, groups, target, reps,
                    out) != 0 ||
        fma_variant(vk, &t, 8, spv_bench_fma8, sizeof(spv_bench_fma8), wg, groups, target, reps,
                    out) != 0 ||
        copy_run(vk, &t, wg, quick, reps, out) != 0)
        goto error;
    if (vk->validation_errors > 0) {
        vsml_err("the validation layer reported %d error(s) in the peak benchmark",
                 vk->validation_errors);
        goto error;
    }
    rc = 0;
error:
    if (t.q && !vk->stuck)
        vkDestroyQueryPool(vk->dev, t.q, NULL);
    vk_ctx_destroy(&vk);
    return rc;
}
