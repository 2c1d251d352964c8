/* vsml-vk viz: the GLFW window (built only with GLFW, VSML_HAVE_GLFW): a
 * Vulkan surface and swapchain on the engine's device, key events, resizing.
 * Frames are presented by copying the renderer's pixel buffer into the
 * swapchain image. Thread-safety: the main thread only (GLFW's rule). */
#ifndef VSML_VIZ_WINDOW_H
#define VSML_VIZ_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "viz/viz.h"

enum viz_key {
    VIZ_KEY_NONE = 0,
    VIZ_KEY_PAUSE,  /* space */
    VIZ_KEY_STEP,   /* n, right arrow */
    VIZ_KEY_FASTER, /* +, = */
    VIZ_KEY_SLOWER, /* - */
    VIZ_KEY_RESET,  /* r */
    VIZ_KEY_DATASET, /* d */
    VIZ_KEY_QUIT,   /* q, Esc, closing the window */
};

/* Initialises GLFW and checks that it can make Vulkan surfaces; the
 * instance extensions it needs and the present check are for
 * vsml_engine_params. */
int viz_window_init(const char *const **exts, uint32_t *n_exts);
int viz_window_present_ok(void *instance, void *phys, uint32_t family);
void viz_window_terminate(void);

typedef struct viz_window viz_window;

/* Opens a width x height window on vk's device and sizes r to it. */
int viz_window_open(vk_ctx *vk, viz_render *r, int width, int height, const char *title,
                    viz_window **out);
void viz_window_close(viz_window **w);
/* Waits up to timeout_s for events (0: polls) and returns the next key
 * (VIZ_KEY_NONE when none is queued). */
enum viz_key viz_window_key(viz_window *w, double timeout_s);
/* True when the window needs a new frame although nothing else changed
 * (its size changed or its swapchain is out of date). */
bool viz_window_stale(viz_window *w);
/* Draws the renderer's current frame into the window; resizes r and the
 * swapchain when the window's size changed (*resized = true). */
int viz_window_present(viz_window *w, viz_render *r, bool *resized);

#endif
