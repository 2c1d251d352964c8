/* The internal Vulkan layer: context (instance, device, queue), buffers,
 * compute pipelines, descriptor sets, one-shot command submission.
 *
 * Every VkResult is checked; a failure logs one error with the call, the
 * result's name and what was being done, and the function returns -1.
 * Destroy functions accept half-built or zeroed objects.
 * Thread-safety: a vk_ctx and everything made from it belong to one thread. */
#ifndef VSML_VK_H
#define VSML_VK_H

#include <stdbool.h>
#include <stdio.h>

#include <volk.h>

const char *vk_result_str(VkResult r);

#define VK_CHECK(call, ...)                                                          \
    do {                                                                             \
        VkResult vk_r_ = (call);                                                     \
        if (vk_r_ != VK_SUCCESS) {                                                   \
            vk_report(vk_r_, #call, __FILE__, __LINE__);                              \
            goto error;                                                              \
        }                                                                            \
    } while (0)

void vk_report(VkResult r, const char *call, const char *file, int line);

typedef struct vk_ctx_params {
    const char *device;  /* index or name substring; NULL = VSML_DEVICE env or best */
    bool validation;     /* enable VK_LAYER_KHRONOS_validation (or env VSML_VALIDATION=1) */
    /* For a window on the same device (vsml-vk viz); all optional: extra
     * instance extensions (the surface ones), VK_KHR_swapchain on the device,
     * and only devices whose queue family passes present_ok (instance and
     * physical device handles as pointers). */
    const char *const *instance_exts;
    uint32_t n_instance_exts;
    bool swapchain;
    int (*present_ok)(void *instance, void *phys, uint32_t family);
} vk_ctx_params;

typedef struct vk_ctx {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkCommandPool pool;
    VkFence fence;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    uint32_t subgroup_size;
    uint32_t timestamp_bits; /* 0 = no timestamps on the compute queue */
    bool shader_int64;       /* shaderInt64, enabled where the device has it */
    bool validation;
    int validation_errors;   /* count of validation-layer errors seen */
    bool stuck;              /* a fence wait timed out: work may still be pending, so
                              * teardown leaks the device instead of waiting on it */
} vk_ctx;

int vk_ctx_create(vk_ctx **out, const vk_ctx_params *params);
void vk_ctx_destroy(vk_ctx **ctx);
/* Prints the devices with their indices (f NULL: only counts); returns the count or -1. */
int vk_list_devices(FILE *f);
const char *vk_device_type_str(VkPhysicalDeviceType t);

typedef struct vk_buf {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map;  /* non-NULL for host-visible buffers */
} vk_buf;

enum vk_buf_kind { VK_BUF_DEVICE, VK_BUF_HOST };

/* `what` names the buffer in error messages ("episode state, chunk 2"). */
int vk_buf_create(vk_ctx *ctx, vk_buf *b, VkDeviceSize size, enum vk_buf_kind kind,
                  const char *what);
void vk_buf_destroy(vk_ctx *ctx, vk_buf *b);
/* Copy between host memory and any buffer (staging when not host-visible). */
int vk_buf_write(vk_ctx *ctx, vk_buf *b, VkDeviceSize off, const void *src, size_t n);
int vk_buf_read(vk_ctx *ctx, vk_buf *b, VkDeviceSize off, void *dst, size_t n);

typedef struct vk_pipe {
    VkShaderModule module;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipe;
    int n_bindings;
    int n_texel; /* storage texel buffers after the storage buffers */
    uint32_t pc_size;
} vk_pipe;

int vk_pipe_create(vk_ctx *ctx, vk_pipe *p, const uint32_t *spv, size_t spv_bytes,
                   int n_bindings, uint32_t pc_size, const uint32_t *spec, int n_spec,
                   const char *name);
/* As vk_pipe_create, plus n_texel storage texel buffers at bindings
 * n_bindings, n_bindings + 1, ... (vk_desc_write_texel). */
int vk_pipe_create_texel(vk_ctx *ctx, vk_pipe *p, const uint32_t *spv, size_t spv_bytes,
                         int n_bindings, int n_texel, uint32_t pc_size, const uint32_t *spec,
                         int n_spec, const char *name);
void vk_pipe_destroy(vk_ctx *ctx, vk_pipe *p);

/* Allocates descriptor sets for pipe p from a pool made for them. */
int vk_desc_pool_create(vk_ctx *ctx, VkDescriptorPool *pool, int n_sets, int n_buffers);
int vk_desc_pool_create_texel(vk_ctx *ctx, VkDescriptorPool *pool, int n_sets, int n_buffers,
                              int n_texel);
int vk_desc_alloc(vk_ctx *ctx, VkDescriptorPool pool, const vk_pipe *p, VkDescriptorSet *set);
/* Binds bufs[i] to binding i (n must equal p->n_bindings). */
void vk_desc_write(vk_ctx *ctx, VkDescriptorSet set, const vk_pipe *p, vk_buf *const *bufs,
                   int n);
/* A view of all of b as texels of format (R32_SFLOAT, R32G32B32A32_SFLOAT),
 * for a storage texel buffer binding. */
int vk_texel_view_create(vk_ctx *ctx, const vk_buf *b, VkFormat format, VkBufferView *view);
/* Binds view to the i-th storage texel buffer of p. */
void vk_desc_write_texel(vk_ctx *ctx, VkDescriptorSet set, const vk_pipe *p, int i,
                         VkBufferView view);

/* One-shot command buffers: begin, record, submit and wait. */
int vk_cmd_begin(vk_ctx *ctx, VkCommandBuffer *cb);
int vk_cmd_submit_wait(vk_ctx *ctx, VkCommandBuffer cb);
/* The longest a wait on the device may take (VSML_FENCE_TIMEOUT_S, default
 * 1800 s): a device that never finishes becomes an error, not a hang. */
uint64_t vk_fence_timeout_ns(void);
/* A wait that ran into that timeout: one error, and the context is stuck
 * (what pending work uses is left alone from then on). */
void vk_timed_out(vk_ctx *ctx, const char *what, uint64_t timeout);
/* The largest buffer one storage binding can hold: the lesser of
 * maxStorageBufferRange and maxMemoryAllocationSize. */
uint64_t vk_max_binding_bytes(vk_ctx *ctx);
void vk_cmd_barrier(VkCommandBuffer cb); /* compute/transfer -> compute/transfer/host */

#endif
