#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz/window.h"
#include "vsml/log.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#define KEY_QUEUE 64
#define MAX_IMAGES 8

struct viz_window {
    vk_ctx *vk;
    GLFWwindow *win;
    VkSurfaceKHR surface;
    VkSwapchainKHR swapchain;
    VkFormat format;
    VkExtent2D extent;
    uint32_t n_images;
    VkImage images[MAX_IMAGES];
    VkSemaphore acquired, done[MAX_IMAGES];
    bool stale; /* the swapchain must be made again */
    bool swap_rb; /* the swapchain is RGBA, not BGRA */
    uint64_t max_bytes; /* the renderer's frame at most (vk_max_binding_bytes) */
    int warned_w, warned_h; /* the last window size reported as too large */
    enum viz_key keys[KEY_QUEUE];
    int n_keys;
};

static void glfw_error(int code, const char *msg)
{
    vsml_dbg("GLFW error %d: %s", code, msg);
}

int viz_window_init(const char *const **exts, uint32_t *n_exts)
{
    glfwSetErrorCallback(glfw_error);
    if (!glfwInit()) {
        const char *why = NULL;
        glfwGetError(&why);
        vsml_err("cannot open a window: %s (is DISPLAY set? --offscreen FILE.png needs no "
                 "display)", why ? why : "GLFW could not be initialised");
        return -1;
    }
    if (!glfwVulkanSupported()) {
        vsml_err("cannot open a window: GLFW finds no Vulkan loader");
        glfwTerminate();
        return -1;
    }
    *exts = glfwGetRequiredInstanceExtensions(n_exts);
    if (!*exts) {
        vsml_err("cannot open a window: Vulkan cannot present to this window system");
        glfwTerminate();
        return -1;
    }
    return 0;
}

int viz_window_present_ok(void *instance, void *phys, uint32_t family)
{
    return glfwGetPhysicalDevicePresentationSupport((VkInstance)instance,
                                                    (VkPhysicalDevice)phys, family);
}

void viz_window_terminate(void)
{
    glfwTerminate();
}

static void push_key(viz_window *w, enum viz_key k)
{
    if (w->n_keys < KEY_QUEUE)
        w->keys[w->n_keys++] = k;
}

static void on_key(GLFWwindow *win, int key, int scancode, int action, int mods)
{
    viz_window *w = glfwGetWindowUserPointer(win);
    if (action != GLFW_PRESS && action != GLFW_REPEAT)
        return;
    switch (key) {
    case GLFW_KEY_SPACE: push_key(w, VIZ_KEY_PAUSE); break;
    case GLFW_KEY_N: case GLFW_KEY_RIGHT: push_key(w, VIZ_KEY_STEP); break;
    case GLFW_KEY_EQUAL: case GLFW_KEY_KP_ADD: push_key(w, VIZ_KEY_FASTER); break;
    case GLFW_KEY_MINUS: case GLFW_KEY_KP_SUBTRACT: push_key(w, VIZ_KEY_SLOWER); break;
    case GLFW_KEY_R: push_key(w, VIZ_KEY_RESET); break;
    case GLFW_KEY_D: push_key(w, VIZ_KEY_DATASET); break;
    case GLFW_KEY_Q: case GLFW_KEY_ESCAPE: push_key(w, VIZ_KEY_QUIT); break;
    default: break;
    }
}

static void destroy_swapchain(viz_window *w)
{
    vk_ctx *vk = w->vk;
    if (vk->stuck) { /* pending work may still use them: leak them, as vk_ctx_destroy does */
        memset(w->done, 0, sizeof(w->done));
        w->swapchain = VK_NULL_HANDLE;
        w->n_images = 0;
        return;
    }
    vkDeviceWaitIdle(vk->dev);
    for (uint32_t i = 0; i < MAX_IMAGES; i++)
        if (w->done[i]) {
            vkDestroySemaphore(vk->dev, w->done[i], NULL);
            w->done[i] = VK_NULL_HANDLE;
        }
    if (w->swapchain)
        vkDestroySwapchainKHR(vk->dev, w->swapchain, NULL);
    w->swapchain = VK_NULL_HANDLE;
    w->n_images = 0;
}

static int pick_format(viz_window *w, bool *swap_rb)
{
    uint32_t n = 0;
    VkSurfaceFormatKHR f[64];
    VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(w->vk->phys, w->surface, &n, NULL));
    if (n > 64)
        n = 64;
    VK_CHECK(vkGetPhysicalDeviceSurfaceFormatsKHR(w->vk->phys, w->surface, &n, f));
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < n; i++) {
            VkFormat want = pass ? VK_FORMAT_R8G8B8A8_UNORM : VK_FORMAT_B8G8R8A8_UNORM;
            if (f[i].format == want) {
                w->format = want;
                *swap_rb = pass == 1;
                return 0;
            }
        }
    vsml_err("the window offers no 8-bit BGRA or RGBA swapchain format");
error:
    return -1;
}

/* Makes the swapchain for the window's current size; extent 0 (minimised)
 * leaves none. */
static int make_swapchain(viz_window *w, viz_render *r)
{
    vk_ctx *vk = w->vk;
    destroy_swapchain(w);
    w->stale = false;
    VkSurfaceCapabilitiesKHR caps;
    VK_CHECK(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(vk->phys, w->surface, &caps));
    int fw, fh;
    glfwGetFramebufferSize(w->win, &fw, &fh);
    VkExtent2D e = caps.currentExtent;
    if (e.width == UINT32_MAX) {
        e.width = (uint32_t)fw;
        e.height = (uint32_t)fh;
    }
    if (e.width < caps.minImageExtent.width) e.width = caps.minImageExtent.width;
    if (e.height < caps.minImageExtent.height) e.height = caps.minImageExtent.height;
    if (e.width > caps.maxImageExtent.width) e.width = caps.maxImageExtent.width;
    if (e.height > caps.maxImageExtent.height) e.height = caps.maxImageExtent.height;
    w->extent = e;
    if (e.width == 0 || e.height == 0)
        return 0;
    if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT)) {
        vsml_err("the window's swapchain images cannot be copied to (no TRANSFER_DST usage)");
        return -1;
    }
    bool swap_rb = false;
    if (pick_format(w, &swap_rb) != 0)
        return -1;
    uint32_t n_img = caps.minImageCount + 1;
    if (caps.maxImageCount && n_img > caps.maxImageCount)
        n_img = caps.maxImageCount;
    VkSwapchainCreateInfoKHR ci = {
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
        .surface = w->surface,
        .minImageCount = n_img,
        .imageFormat = w->format,
        .imageColorSpace = VK_COLOR_SPACE_SRGB_NONLINEAR_KHR,
        .imageExtent = e,
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT,
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .preTransform = caps.currentTransform,
        .compositeAlpha = (caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR)
                              ? VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR
                              : (VkCompositeAlphaFlagBitsKHR)caps.supportedCompositeAlpha &
                                    -caps.supportedCompositeAlpha,
        .presentMode = VK_PRESENT_MODE_FIFO_KHR,
        .clipped = VK_TRUE,
    };
    VK_CHECK(vkCreateSwapchainKHR(vk->dev, &ci, NULL, &w->swapchain));
    VK_CHECK(vkGetSwapchainImagesKHR(vk->dev, w->swapchain, &w->n_images, NULL));
    if (w->n_images > MAX_IMAGES) {
        vsml_err("the swapchain has %u images (at most %d supported)", w->n_images, MAX_IMAGES);
        return -1;
    }
    VK_CHECK(vkGetSwapchainImagesKHR(vk->dev, w->swapchain, &w->n_images, w->images));
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    for (uint32_t i = 0; i < w->n_images; i++)
        VK_CHECK(vkCreateSemaphore(vk->dev, &si, NULL, &w->done[i]));
    w->swap_rb = swap_rb;
    return 0;
error:
    return -1;
}

int viz_window_open(vk_ctx *vk, viz_render *r, int width, int height, const char *title,
                    viz_window **out)
{
    *out = NULL;
    viz_window *w = calloc(1, sizeof(*w));
    if (!w) {
        vsml_err("out of memory");
        return -1;
    }
    w->vk = vk;
    w->max_bytes = vk_max_binding_bytes(vk);
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
    w->win = glfwCreateWindow(width, height, title, NULL, NULL);
    if (!w->win) {
        const char *why = NULL;
        glfwGetError(&why);
        vsml_err("cannot open a window: %s", why ? why : "unknown GLFW error");
        goto fail;
    }
    glfwSetWindowUserPointer(w->win, w);
    glfwSetKeyCallback(w->win, on_key);
    glfwSetWindowSizeLimits(w->win, VIZ_MIN_WIDTH, VIZ_MIN_HEIGHT, GLFW_DONT_CARE,
                            GLFW_DONT_CARE);
    VK_CHECK(glfwCreateWindowSurface(vk->instance, w->win, NULL, &w->surface));
    VkBool32 ok = VK_FALSE;
    VK_CHECK(vkGetPhysicalDeviceSurfaceSupportKHR(vk->phys, vk->qfam, w->surface, &ok));
    if (!ok) {
        vsml_err("device %s cannot present to this window", vk->props.deviceName);
        goto fail;
    }
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VK_CHECK(vkCreateSemaphore(vk->dev, &si, NULL, &w->acquired));
    if (make_swapchain(w, r) != 0)
        goto fail;
    *out = w;
    return 0;
error:
fail:
    viz_window_close(&w);
    return -1;
}

void viz_window_close(viz_window **pw)
{
    viz_window *w = *pw;
    if (!w)
        return;
    bool stuck = w->vk->stuck; /* the swapchain and surface are leaked with the device */
    if (w->vk->dev && !stuck) {
        destroy_swapchain(w);
        if (w->acquired)
            vkDestroySemaphore(w->vk->dev, w->acquired, NULL);
    }
    if (w->surface && !stuck)
        vkDestroySurfaceKHR(w->vk->instance, w->surface, NULL);
    if (w->win)
        glfwDestroyWindow(w->win);
    free(w);
    *pw = NULL;
}

enum viz_key viz_window_key(viz_window *w, double timeout_s)
{
    if (w->n_keys == 0) {
        if (timeout_s > 0)
            glfwWaitEventsTimeout(timeout_s);
        else
            glfwPollEvents();
    }
    if (glfwWindowShouldClose(w->win)) {
        glfwSetWindowShouldClose(w->win, GLFW_FALSE);
        push_key(w, VIZ_KEY_QUIT);
    }
    if (w->n_keys == 0)
        return VIZ_KEY_NONE;
    enum viz_key k = w->keys[0];
    memmove(w->keys, w->keys + 1, (size_t)(w->n_keys - 1) * sizeof(w->keys[0]));
    w->n_keys--;
    return k;
}

static void image_barrier(VkCommandBuffer cb, VkImage img, VkImageLayout from, VkImageLayout to,
                          VkAccessFlags src, VkAccessFlags dst)
{
    VkImageMemoryBarrier b = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
        .srcAccessMask = src,
        .dstAccessMask = dst,
        .oldLayout = from,
        .newLayout = to,
        .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .image = img,
        .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1},
    };
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0,
                         NULL, 0, NULL, 1, &b);
}

bool viz_window_stale(viz_window *w)
{
    int fw, fh;
    glfwGetFramebufferSize(w->win, &fw, &fh);
    if (fw == 0 || fh == 0)
        return false; /* minimised: nothing to draw into */
    return w->stale || !w->swapchain || (uint32_t)fw != w->extent.width ||
           (uint32_t)fh != w->extent.height;
}

int viz_window_present(viz_window *w, viz_render *r, bool *resized)
{
    vk_ctx *vk = w->vk;
    *resized = false;
    int fw, fh;
    glfwGetFramebufferSize(w->win, &fw, &fh);
    if (fw == 0 || fh == 0)
        return 0; /* minimised */
    if (viz_window_stale(w)) {
        if (make_swapchain(w, r) != 0)
            return -1;
        *resized = true;
    }
    if (!w->swapchain)
        return 0; /* minimised */
    /* the renderer follows the swapchain (it may be new: another dataset), as
     * far as the device can bind its frame: a larger window gets a smaller
     * frame in its corner */
    viz_render_set_swap_rb(r, w->swap_rb);
    int fw_want = (int)w->extent.width, fh_want = (int)w->extent.height;
    if (viz_fit_size(w->max_bytes, &fw_want, &fh_want) &&
        (w->warned_w != (int)w->extent.width || w->warned_h != (int)w->extent.height)) {
        vsml_warn("a %ux%u frame is more than the device can bind (%.1f MiB per buffer): "
                  "drawing %dx%d", w->extent.width, w->extent.height,
                  w->max_bytes / 1048576.0, fw_want, fh_want);
        w->warned_w = (int)w->extent.width;
        w->warned_h = (int)w->extent.height;
    }
    const viz_layout *l = viz_render_layout(r);
    if ((l->width != fw_want || l->height != fh_want) &&
        viz_render_resize(r, fw_want, fh_want) != 0)
        return -1;
    bool clipped = fw_want != (int)w->extent.width || fh_want != (int)w->extent.height;
    uint64_t timeout = vk_fence_timeout_ns();
    uint32_t idx;
    VkResult res = vkAcquireNextImageKHR(vk->dev, w->swapchain, timeout, w->acquired,
                                         VK_NULL_HANDLE, &idx);
    if (res == VK_ERROR_OUT_OF_DATE_KHR) {
        w->stale = true;
        return 0;
    }
    if (res == VK_TIMEOUT || res == VK_NOT_READY) {
        vk_timed_out(vk, "give a swapchain image", timeout);
        return -1;
    }
    if (res != VK_SUCCESS && res != VK_SUBOPTIMAL_KHR) {
        vk_report(res, "vkAcquireNextImageKHR", __FILE__, __LINE__);
        return -1;
    }
    VkCommandBuffer cb;
    if (vk_cmd_begin(vk, &cb) != 0)
        return -1;
    viz_render_record(r, cb);
    VkImage img = w->images[idx];
    image_barrier(cb, img, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
                  VK_ACCESS_TRANSFER_WRITE_BIT);
    if (clipped) { /* around the smaller frame: grey, not whatever was there */
        VkClearColorValue grey = {.float32 = {0.5f, 0.5f, 0.5f, 1.0f}};
        VkImageSubresourceRange all = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
        vkCmdClearColorImage(cb, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, &grey, 1, &all);
        image_barrier(cb, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                      VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_ACCESS_TRANSFER_WRITE_BIT,
                      VK_ACCESS_TRANSFER_WRITE_BIT);
    }
    VkBufferImageCopy copy = {
        .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
        .imageExtent = {(uint32_t)fw_want, (uint32_t)fh_want, 1},
    };
    vkCmdCopyBufferToImage(cb, viz_render_pixels(r)->buf, img,
                           VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &copy);
    image_barrier(cb, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                  VK_ACCESS_TRANSFER_WRITE_BIT, 0);
    int rc = -1;
    VK_CHECK(vkEndCommandBuffer(cb));
    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .waitSemaphoreCount = 1,
        .pWaitSemaphores = &w->acquired,
        .pWaitDstStageMask = &wait_stage,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
        .signalSemaphoreCount = 1,
        .pSignalSemaphores = &w->done[idx],
    };
    VK_CHECK(vkResetFences(vk->dev, 1, &vk->fence));
    VK_CHECK(vkQueueSubmit(vk->queue, 1, &si, vk->fence));
    res = vkWaitForFences(vk->dev, 1, &vk->fence, VK_TRUE, timeout);
    if (res == VK_TIMEOUT) {
        /* the command buffer is still pending: it must not be freed */
        vk_timed_out(vk, "finish drawing the frame", timeout);
        return -1;
    }
    if (res != VK_SUCCESS) {
        vk_report(res, "vkWaitForFences", __FILE__, __LINE__);
        goto error;
    }
    VkPresentInfoKHR pi = {
        .sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
        .waitSemaphoreCount = 1,
        .pWaitSemaphores = &w->done[idx],
        .swapchainCount = 1,
        .pSwapchains = &w->swapchain,
        .pImageIndices = &idx,
    };
    res = vkQueuePresentKHR(vk->queue, &pi);
    if (res == VK_ERROR_OUT_OF_DATE_KHR || res == VK_SUBOPTIMAL_KHR)
        w->stale = true;
    else if (res != VK_SUCCESS) {
        vk_report(res, "vkQueuePresentKHR", __FILE__, __LINE__);
        goto error;
    }
    rc = 0;
error:
    vkFreeCommandBuffers(vk->dev, vk->pool, 1, &cb);
    return rc;
}
