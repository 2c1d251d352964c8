#include <stdlib.h>
#include <string.h>

#include "vk/vk.h"
#include "vsml/log.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char *vk_result_str(VkResult r)
{
    switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST)
    C(VK_ERROR_MEMORY_MAP_FAILED) C(VK_ERROR_LAYER_NOT_PRESENT)
    C(VK_ERROR_EXTENSION_NOT_PRESENT) C(VK_ERROR_FEATURE_NOT_PRESENT)
    C(VK_ERROR_INCOMPATIBLE_DRIVER) C(VK_ERROR_TOO_MANY_OBJECTS)
    C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_SHADER_NV)
    C(VK_ERROR_SURFACE_LOST_KHR) C(VK_ERROR_OUT_OF_DATE_KHR) C(VK_SUBOPTIMAL_KHR)
    C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VkResult(unknown)";
    }
}

/* ---- fault injection (tests) ----
 * VSML_FAULT=KIND[@N] makes the N-th (default first) matching call fail as
 * a real device would: device_lost (a queue submission's wait reports
 * VK_ERROR_DEVICE_LOST), oom (a device memory allocation reports
 * VK_ERROR_OUT_OF_DEVICE_MEMORY), hang (a submission never completes, so
 * the fence wait runs into its timeout), no_extension (the instance lacks
 * every optional extension and layer: validation cannot be enabled),
 * small_texels (maxTexelBufferElements is the spec's minimum, 65536),
 * small_shared (maxComputeSharedMemorySize is the spec's minimum, 16384),
 * no_int64 (the device has no shaderInt64). */
static bool fault(const char *kind)
{
    static int count;
    const char *f = getenv("VSML_FAULT");
    size_t n = strlen(kind);
    if (!f || strncmp(f, kind, n) != 0 || (f[n] != 0 && f[n] != '@'))
        return false;
    long at = f[n] == '@' ? strtol(f + n + 1, NULL, 10) : 1;
    return ++count == at;
}

/* The longest a fence wait may take (VSML_FENCE_TIMEOUT_S, default 1800 s):
 * a device that never finishes becomes an error, not a hang. */
uint64_t vk_max_binding_bytes(vk_ctx *ctx)
{
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &m3};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    uint64_t max = ctx->props.limits.maxStorageBufferRange;
    if (m3.maxMemoryAllocationSize && m3.maxMemoryAllocationSize < max)
        max = m3.maxMemoryAllocationSize;
    return max;
}

void vk_timed_out(vk_ctx *ctx, const char *what, uint64_t timeout)
{
    ctx->stuck = true;
    vsml_err("the device did not %s within %g s (VSML_FENCE_TIMEOUT_S); giving up", what,
             (double)timeout / 1e9);
}

uint64_t vk_fence_timeout_ns(void)
{
    const char *v = getenv("VSML_FENCE_TIMEOUT_S");
    double s = v ? strtod(v, NULL) : 1800.0;
    if (!(s > 0) || s > 1e9)
        s = 1800.0;
    return (uint64_t)(s * 1e9);
}

void vk_report(VkResult r, const char *call, const char *file, int line)
{
    const char *hint = "";
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        hint = ": out of memory; use a smaller population or fewer steps per call";
    else if (r == VK_ERROR_DEVICE_LOST)
        hint = ": the device was lost (driver reset or hang)";
    vsml_err("%s failed with %s%s (%s:%d)", call, vk_result_str(r), hint, file, line);
}

const char *vk_device_type_str(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *d,
                                               void *user)
{
    vk_ctx *ctx = user;
    if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        ctx->validation_errors++;
        vsml_err("validation: %s", d->pMessage);
    } else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        vsml_warn("validation: %s", d->pMessage);
    }
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    if (fault("no_extension"))
        return false;
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *l = calloc(n, sizeof(*l));
    bool found = false;
    if (l && vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static bool has_instance_ext(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS)
        return false;
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof(*e));
    bool found = false;
    if (e && vkEnumerateInstanceExtensionProperties(NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

static int load_loader(void)
{
    static int state; /* 0 unknown, 1 ok, -1 failed */
    if (state == 0)
        state = volkInitialize() == VK_SUCCESS ? 1 : -1;
    if (state < 0)
        vsml_err("no Vulkan loader found (libvulkan.so.1): install libvulkan1 and a driver "
                 "(mesa-vulkan-drivers provides lavapipe on the CPU)");
    return state > 0 ? 0 : -1;
}

static int create_instance(vk_ctx *ctx, bool validation, const vk_ctx_params *params)
{
    const char *layers[1];
    const char *exts[2 + 8];
    uint32_t n_layers = 0, n_exts = 0;
    for (uint32_t i = 0; params && i < params->n_instance_exts && i < 8; i++)
        exts[n_exts++] = params->instance_exts[i];
    bool portability = has_instance_ext("VK_KHR_portability_enumeration");
    if (validation) {
        if (!has_layer(VALIDATION_LAYER)) {
            vsml_err("validation was requested but %s is not installed "
                     "(Debian: vulkan-validationlayers)", VALIDATION_LAYER);
            return -1;
        }
        layers[n_layers++] = VALIDATION_LAYER;
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    if (portability)
        exts[n_exts++] = "VK_KHR_portability_enumeration";
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vsml-vk",
        .pEngineName = "vsml-vk",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = portability ? 0x00000001 /* ENUMERATE_PORTABILITY_BIT_KHR */ : 0,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &ctx->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        vsml_err("no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER): "
                 "install one (mesa-vulkan-drivers provides lavapipe on the CPU) or check "
                 "VK_ICD_FILENAMES");
        return -1;
    }
    VK_CHECK(r);
    volkLoadInstanceOnly(ctx->instance);
    if (validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = debug_cb,
            .pUserData = ctx,
        };
        VK_CHECK(vkCreateDebugUtilsMessengerEXT(ctx->instance, &mi, NULL, &ctx->messenger));
        ctx->validation = true;
    }
    return 0;
error:
    return -1;
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static bool compute_queue(VkPhysicalDevice pd, uint32_t *fam, uint32_t *ts_bits)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof(*q));
    if (!q)
        return false;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) {
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *fam = i;
            *ts_bits = q[i].timestampValidBits;
            found = true;
        }
    }
    free(q);
    return found;
}

static int enumerate(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n)
{
    *pds = NULL;
    *n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(inst, n, NULL));
    if (*n == 0)
        return 0;
    *pds = calloc(*n, sizeof(**pds));
    if (!*pds) {
        vsml_err("out of memory");
        return -1;
    }
    VK_CHECK(vkEnumeratePhysicalDevices(inst, n, *pds));
    return 0;
error:
    free(*pds);
    *pds = NULL;
    return -1;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] && (hay[i] | 32) == (needle[i] | 32))
            i++;
        if (i == nl)
            return true;
    }
    return nl == 0;
}

static int pick_device(vk_ctx *ctx, const char *want, const vk_ctx_params *params)
{
    VkPhysicalDevice *pds;
    uint32_t n;
    if (enumerate(ctx->instance, &pds, &n) != 0)
        return -1;
    if (n == 0) {
        vsml_err("no Vulkan device found: install a driver (mesa-vulkan-drivers gives "
                 "lavapipe on the CPU)");
        return -1;
    }
    int best = -1, best_rank = 99;
    char *end = NULL;
    long idx = want ? strtol(want, &end, 10) : -1;
    bool by_index = want && *want && end && !*end;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        uint32_t fam, bits;
        if (!compute_queue(pds[i], &fam, &bits) || p.apiVersion < VK_API_VERSION_1_1)
            continue;
        if (params->present_ok && !params->present_ok(ctx->instance, pds[i], fam))
            continue;
        if (by_index) {
            if ((long)i == idx)
                best = (int)i;
        } else if (want && *want) {
            if (best < 0 && contains_ci(p.deviceName, want))
                best = (int)i;
        } else if (type_rank(p.deviceType) < best_rank) {
            best_rank = type_rank(p.deviceType);
            best = (int)i;
        }
    }
    if (best < 0) {
        if (want && *want)
            vsml_err("no usable Vulkan device matches '%s' (%u device(s) present; "
                     "'vsml-vk devices' lists them)", want, n);
        else
            vsml_err("none of the %u Vulkan device(s) has a compute queue%s and Vulkan 1.1", n,
                     params->present_ok ? " that can present to the window" : "");
        free(pds);
        return -1;
    }
    ctx->phys = pds[best];
    free(pds);
    return 0;
}

int vk_list_devices(FILE *f)
{
    vk_ctx ctx = {0};
    if (load_loader() != 0 || create_instance(&ctx, false, NULL) != 0)
        return -1;
    VkPhysicalDevice *pds;
    uint32_t n;
    if (enumerate(ctx.instance, &pds, &n) != 0) {
        vkDestroyInstance(ctx.instance, NULL);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (f)
            fprintf(f, "%u: %s (%s, Vulkan %u.%u.%u)\n", i, p.deviceName,
                vk_device_type_str(p.deviceType), VK_API_VERSION_MAJOR(p.apiVersion),
                VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion));
    }
    free(pds);
    vkDestroyInstance(ctx.instance, NULL);
    return (int)n;
}

int vk_ctx_create(vk_ctx **out, const vk_ctx_params *params)
{
    *out = NULL;
    vk_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) {
        vsml_err("out of memory");
        return -1;
    }
    const char *env_val = getenv("VSML_VALIDATION");
    bool validation = params->validation || (env_val && *env_val && strcmp(env_val, "0") != 0);
    const char *want = params->device ? params->device : getenv("VSML_DEVICE");
    if (load_loader() != 0 || create_instance(ctx, validation, params) != 0 ||
        pick_device(ctx, want, params) != 0)
        goto error;
    vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
    if (fault("small_texels")) /* a device at the spec's minimum */
        ctx->props.limits.maxTexelBufferElements = 65536;
    if (fault("small_shared")) /* likewise */
        ctx->props.limits.maxComputeSharedMemorySize = 16384;
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem);
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sg};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    ctx->subgroup_size = sg.subgroupSize;
    compute_queue(ctx->phys, &ctx->qfam, &ctx->timestamp_bits);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = ctx->qfam,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    const char *swapchain_ext = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
    /* 64-bit integers: the cpu kernel's state stores (vsml_step.comp) */
    VkPhysicalDeviceFeatures have, feat = {0};
    vkGetPhysicalDeviceFeatures(ctx->phys, &have);
    ctx->shader_int64 = have.shaderInt64 && !fault("no_int64");
    feat.shaderInt64 = ctx->shader_int64;
    VkDeviceCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qi,
        .enabledExtensionCount = params->swapchain ? 1 : 0,
        .ppEnabledExtensionNames = &swapchain_ext,
        .pEnabledFeatures = &feat,
    };
    VK_CHECK(vkCreateDevice(ctx->phys, &di, NULL, &ctx->dev));
    volkLoadDevice(ctx->dev);
    vkGetDeviceQueue(ctx->dev, ctx->qfam, 0, &ctx->queue);
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT |
                 VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
        .queueFamilyIndex = ctx->qfam,
    };
    VK_CHECK(vkCreateCommandPool(ctx->dev, &pi, NULL, &ctx->pool));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_CHECK(vkCreateFence(ctx->dev, &fi, NULL, &ctx->fence));
    vsml_dbg("device: %s (%s), subgroup size %u", ctx->props.deviceName,
             vk_device_type_str(ctx->props.deviceType), ctx->subgroup_size);
    *out = ctx;
    return 0;
error:
    vk_ctx_destroy(&ctx);
    return -1;
}

void vk_ctx_destroy(vk_ctx **pctx)
{
    vk_ctx *ctx = *pctx;
    if (!ctx)
        return;
    if (ctx->dev && ctx->stuck) {
        free(ctx);
        *pctx = NULL;
        return;
    }
    if (ctx->dev) {
        vkDeviceWaitIdle(ctx->dev);
        if (ctx->fence)
            vkDestroyFence(ctx->dev, ctx->fence, NULL);
        if (ctx->pool)
            vkDestroyCommandPool(ctx->dev, ctx->pool, NULL);
        vkDestroyDevice(ctx->dev, NULL);
    }
    if (ctx->messenger)
        vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, NULL);
    if (ctx->instance)
        vkDestroyInstance(ctx->instance, NULL);
    free(ctx);
    *pctx = NULL;
}

static int find_memory(vk_ctx *ctx, uint32_t type_bits, VkMemoryPropertyFlags want,
                       VkMemoryPropertyFlags fallback)
{
    for (int pass = 0; pass < 2; pass++) {
        VkMemoryPropertyFlags f = pass ? fallback : want;
        for (uint32_t i = 0; i < ctx->mem.memoryTypeCount; i++)
            if ((type_bits & (1u << i)) && (ctx->mem.memoryTypes[i].propertyFlags & f) == f)
                return (int)i;
    }
    return -1;
}

int vk_buf_create(vk_ctx *ctx, vk_buf *b, VkDeviceSize size, enum vk_buf_kind kind,
                  const char *what)
{
    memset(b, 0, sizeof(*b));
    if (size == 0)
        size = 16;
    size = (size + 15) & ~(VkDeviceSize)15;
    b->size = size;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT |
                 VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(ctx->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        vsml_err("cannot create the %s buffer (%.1f MiB): %s", what, size / 1048576.0,
                 vk_result_str(r));
        return -1;
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->dev, b->buf, &req);
    VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                               VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = kind == VK_BUF_HOST
                   ? find_memory(ctx, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, hv)
                   : find_memory(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    if (type < 0) {
        vsml_err("no suitable memory type for the %s buffer", what);
        goto fail;
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    r = fault("oom") ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                     : vkAllocateMemory(ctx->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        vsml_err("cannot allocate %.1f MiB of device memory for the %s buffer: %s%s",
                 req.size / 1048576.0, what, vk_result_str(r),
                 r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                     ? " (use a smaller population or smaller layers)" : "");
        goto fail;
    }
    r = vkBindBufferMemory(ctx->dev, b->buf, b->mem, 0);
    /* mapped only where coherent (vk_buf_read/write copy without flushing or
     * invalidating); other device memory goes through a staging copy */
    if (r == VK_SUCCESS && (ctx->mem.memoryTypes[type].propertyFlags & hv) == hv)
        r = vkMapMemory(ctx->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        vsml_err("cannot bind or map the %s buffer: %s", what, vk_result_str(r));
        goto fail;
    }
    return 0;
fail:
    vk_buf_destroy(ctx, b);
    return -1;
}

void vk_buf_destroy(vk_ctx *ctx, vk_buf *b)
{
    if (ctx->stuck) { /* the device may still use it */
        memset(b, 0, sizeof(*b));
        return;
    }
    if (b->buf)
        vkDestroyBuffer(ctx->dev, b->buf, NULL);
    if (b->mem)
        vkFreeMemory(ctx->dev, b->mem, NULL);
    memset(b, 0, sizeof(*b));
}

static int staged_copy(vk_ctx *ctx, vk_buf *b, VkDeviceSize off, void *host, size_t n, bool up)
{
    vk_buf st;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    if (vk_buf_create(ctx, &st, n, VK_BUF_HOST, "staging") != 0)
        return -1;
    if (up)
        memcpy(st.map, host, n);
    if (vk_cmd_begin(ctx, &cb) != 0)
        goto fail;
    VkBufferCopy c = {.srcOffset = up ? 0 : off, .dstOffset = up ? off : 0, .size = n};
    vkCmdCopyBuffer(cb, up ? st.buf : b->buf, up ? b->buf : st.buf, 1, &c);
    vk_cmd_barrier(cb);
    if (vk_cmd_submit_wait(ctx, cb) != 0)
        goto fail;
    if (!up)
        memcpy(host, st.map, n);
    vk_buf_destroy(ctx, &st);
    return 0;
fail:
    vk_buf_destroy(ctx, &st);
    return -1;
}

int vk_buf_write(vk_ctx *ctx, vk_buf *b, VkDeviceSize off, const void *src, size_t n)
{
    if (n == 0)
        return 0;
    if (b->map) {
        memcpy((char *)b->map + off, src, n);
        return 0;
    }
    return staged_copy(ctx, b, off, (void *)src, n, true);
}

int vk_buf_read(vk_ctx *ctx, vk_buf *b, VkDeviceSize off, void *dst, size_t n)
{
    if (n == 0)
        return 0;
    if (b->map) {
        memcpy(dst, (const char *)b->map + off, n);
        return 0;
    }
    return staged_copy(ctx, b, off, dst, n, false);
}

int vk_pipe_create(vk_ctx *ctx, vk_pipe *p, const uint32_t *spv, size_t spv_bytes,
                   int n_bindings, uint32_t pc_size, const uint32_t *spec, int n_spec,
                   const char *name)
{
    return vk_pipe_create_texel(ctx, p, spv, spv_bytes, n_bindings, 0, pc_size, spec, n_spec,
                                name);
}

int vk_pipe_create_texel(vk_ctx *ctx, vk_pipe *p, const uint32_t *spv, size_t spv_bytes,
                         int n_bindings, int n_texel, uint32_t pc_size, const uint32_t *spec,
                         int n_spec, const char *name)
{
    memset(p, 0, sizeof(*p));
    p->n_bindings = n_bindings;
    p->n_texel = n_texel;
    p->pc_size = pc_size;
    VkShaderModuleCreateInfo si = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = spv_bytes,
        .pCode = spv,
    };
    VkDescriptorSetLayoutBinding b[32];
    VkSpecializationMapEntry me[16];
    if (n_bindings + n_texel > 32 || n_spec > 16) {
        vsml_err("pipeline %s: too many bindings or constants", name);
        return -1;
    }
    VK_CHECK(vkCreateShaderModule(ctx->dev, &si, NULL, &p->module));
    for (int i = 0; i < n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    for (int i = n_bindings; i < n_bindings + n_texel; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dl = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = (uint32_t)(n_bindings + n_texel),
        .pBindings = b,
    };
    VK_CHECK(vkCreateDescriptorSetLayout(ctx->dev, &dl, NULL, &p->dsl));
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = pc_size};
    VkPipelineLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->dsl,
        .pushConstantRangeCount = pc_size ? 1 : 0,
        .pPushConstantRanges = &pcr,
    };
    VK_CHECK(vkCreatePipelineLayout(ctx->dev, &li, NULL, &p->layout));
    for (int i = 0; i < n_spec; i++)
        me[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i,
                                           .offset = (uint32_t)(i * 4), .size = 4};
    VkSpecializationInfo sp = {
        .mapEntryCount = (uint32_t)n_spec,
        .pMapEntries = me,
        .dataSize = (size_t)n_spec * 4,
        .pData = spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = p->module,
            .pName = "main",
            .pSpecializationInfo = n_spec ? &sp : NULL,
        },
        .layout = p->layout,
    };
    VK_CHECK(vkCreateComputePipelines(ctx->dev, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipe));
    return 0;
error:
    vsml_err("could not build the compute pipeline %s", name);
    vk_pipe_destroy(ctx, p);
    return -1;
}

void vk_pipe_destroy(vk_ctx *ctx, vk_pipe *p)
{
    if (ctx->stuck) { /* a pending command buffer may still use it: leave it */
        memset(p, 0, sizeof(*p));
        return;
    }
    if (p->pipe)
        vkDestroyPipeline(ctx->dev, p->pipe, NULL);
    if (p->layout)
        vkDestroyPipelineLayout(ctx->dev, p->layout, NULL);
    if (p->dsl)
        vkDestroyDescriptorSetLayout(ctx->dev, p->dsl, NULL);
    if (p->module)
        vkDestroyShaderModule(ctx->dev, p->module, NULL);
    memset(p, 0, sizeof(*p));
}

int vk_desc_pool_create(vk_ctx *ctx, VkDescriptorPool *pool, int n_sets, int n_buffers)
{
    return vk_desc_pool_create_texel(ctx, pool, n_sets, n_buffers, 0);
}

int vk_desc_pool_create_texel(vk_ctx *ctx, VkDescriptorPool *pool, int n_sets, int n_buffers,
                              int n_texel)
{
    VkDescriptorPoolSize ps[2] = {
        {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = (uint32_t)n_buffers},
        {.type = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, .descriptorCount = (uint32_t)n_texel},
    };
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = (uint32_t)n_sets,
        .poolSizeCount = n_texel > 0 ? 2 : 1,
        .pPoolSizes = ps,
    };
    VK_CHECK(vkCreateDescriptorPool(ctx->dev, &ci, NULL, pool));
    return 0;
error:
    return -1;
}

int vk_desc_alloc(vk_ctx *ctx, VkDescriptorPool pool, const vk_pipe *p, VkDescriptorSet *set)
{
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &p->dsl,
    };
    VK_CHECK(vkAllocateDescriptorSets(ctx->dev, &ai, set));
    return 0;
error:
    return -1;
}

void vk_desc_write(vk_ctx *ctx, VkDescriptorSet set, const vk_pipe *p, vk_buf *const *bufs, int n)
{
    VkDescriptorBufferInfo bi[32];
    VkWriteDescriptorSet w[32];
    for (int i = 0; i < n && i < 32; i++) {
        bi[i] = (VkDescriptorBufferInfo){.buffer = bufs[i]->buf, .range = VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &bi[i],
        };
    }
    (void)p;
    vkUpdateDescriptorSets(ctx->dev, (uint32_t)n, w, 0, NULL);
}

int vk_texel_view_create(vk_ctx *ctx, const vk_buf *b, VkFormat format, VkBufferView *view)
{
    VkBufferViewCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
        .buffer = b->buf,
        .format = format,
        .range = VK_WHOLE_SIZE,
    };
    VkResult r = vkCreateBufferView(ctx->dev, &ci, NULL, view);
    if (r != VK_SUCCESS) {
        vsml_err("cannot create a texel view of a buffer: %s", vk_result_str(r));
        return -1;
    }
    return 0;
}

void vk_desc_write_texel(vk_ctx *ctx, VkDescriptorSet set, const vk_pipe *p, int i,
                         VkBufferView view)
{
    VkWriteDescriptorSet w = {
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = (uint32_t)(p->n_bindings + i),
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER,
        .pTexelBufferView = &view,
    };
    vkUpdateDescriptorSets(ctx->dev, 1, &w, 0, NULL);
}

int vk_cmd_begin(vk_ctx *ctx, VkCommandBuffer *cb)
{
    *cb = VK_NULL_HANDLE;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = ctx->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VK_CHECK(vkAllocateCommandBuffers(ctx->dev, &ai, cb));
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VK_CHECK(vkBeginCommandBuffer(*cb, &bi));
    return 0;
error:
    if (*cb)
        vkFreeCommandBuffers(ctx->dev, ctx->pool, 1, cb);
    *cb = VK_NULL_HANDLE;
    return -1;
}

int vk_cmd_submit_wait(vk_ctx *ctx, VkCommandBuffer cb)
{
    int rc = -1;
    VK_CHECK(vkEndCommandBuffer(cb));
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
    };
    VK_CHECK(vkResetFences(ctx->dev, 1, &ctx->fence));
    if (!fault("hang"))
        VK_CHECK(vkQueueSubmit(ctx->queue, 1, &si, ctx->fence));
    uint64_t timeout = vk_fence_timeout_ns();
    VkResult r = vkWaitForFences(ctx->dev, 1, &ctx->fence, VK_TRUE, timeout);
    if (r == VK_SUCCESS && fault("device_lost")) /* after the work is done, as if lost */
        r = VK_ERROR_DEVICE_LOST;
    if (r == VK_TIMEOUT) {
        /* the command buffer is still pending: it must not be freed */
        vk_timed_out(ctx, "finish the submitted work", timeout);
        return -1;
    }
    if (r != VK_SUCCESS) {
        vk_report(r, "vkWaitForFences", __FILE__, __LINE__);
        goto error;
    }
    rc = 0;
error:
    vkFreeCommandBuffers(ctx->dev, ctx->pool, 1, &cb);
    return rc;
}

void vk_cmd_barrier(VkCommandBuffer cb)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                         VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(cb,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                             VK_PIPELINE_STAGE_HOST_BIT,
                         0, 1, &mb, 0, NULL, 0, NULL);
}
