/* vsml-vk viz: renders the live picture of VSML learning online (the
 * paper's Figures 9 and 17): a strip of the output probabilities of the last
 * VIZ_STEPS steps, the current input, the online accuracy curves, figures
 * and the controls.
 *
 * The frame is drawn by a compute shader (shaders/viz_draw.comp) into a
 * buffer of W x H packed 8-bit pixels on the engine's device; strip 0 reads
 * the probabilities straight from the engine's output buffer. Text is drawn
 * with cairo (DejaVu through fontconfig and FreeType) into an overlay buffer
 * that the shader composites; it is redrawn only when the text changes.
 * The window (window.c, GLFW) copies the pixels to the swapchain image; the
 * offscreen path reads them back and writes a PNG.
 * Thread-safety: a renderer belongs to the thread of its engine. */
#ifndef VSML_VIZ_H
#define VSML_VIZ_H

#include <stdbool.h>
#include <stdint.h>

#include "vk/vk.h"
#include "vsml/viz_iface.h"

/* Where everything goes in a width x height frame. Rectangles are
 * {x0, y0, x1, y1} in pixels, x1 and y1 exclusive. */
typedef struct viz_layout {
    int width, height;
    int n_strips;
    double font;               /* text size in pixels */
    int strip[VIZ_MAX_STRIPS][4];
    int img[4], plot[4], cbar[4];
} viz_layout;

/* Frames smaller than this are refused (nothing would be readable). */
#define VIZ_MIN_WIDTH 320
#define VIZ_MIN_HEIGHT 200

void viz_layout_make(int width, int height, int n_strips, int img_w, int img_h, viz_layout *l);

/* The colour of probability p in the strip (viridis), as the shader does. */
void viz_colormap(float p, uint8_t rgb[3]);
/* Colours of the markers in the strip (0-255). */
extern const uint8_t viz_square_rgb[3], viz_ring_rgb[3];

/* The pixel at the centre of cell (col, row) of a strip of n_rows rows, and
 * the cell's corner (x0, y0) and size. */
void viz_cell(const int rect[4], int n_rows, int col, int row, int *cx, int *cy, int *x0,
              int *y0, int *w, int *h);

/* A pixel of the square that marks the true class in a w x h cell: (dx,
 * dy) from the cell's corner (the middle of its left edge). */
void viz_square_marker(int w, int h, int *dx, int *dy);

/* The texts of a frame. */
typedef struct viz_text {
    char title[256];
    char status[256];
    char strip[VIZ_MAX_STRIPS][160];
    char image[160];
    char curve[VIZ_MAX_CURVES][96]; /* legend entries */
    char help[256];
} viz_text;

/* What a frame shows besides the text. */
typedef struct viz_state {
    int t_now;                    /* steps done */
    const int32_t *labels;        /* [VIZ_STEPS]: label of step t at t % VIZ_STEPS */
    const float *ring;            /* [VIZ_STEPS][C]: strip 1's outputs (NULL: 1 strip) */
    const float *image;           /* [img_c][img_h][img_w] in [0, 1] */
    const float *cum[VIZ_MAX_CURVES]; /* cumulative correct count after step t at [t] */
    int n_curves;
    float chance;                 /* 1 / classes */
} viz_state;

typedef struct viz_render viz_render;

/* (The text overlay and the pixels take width x height x 4 bytes each,
 * within vk_max_binding_bytes.) */
/* Shrinks *width x *height, keeping its shape (and the minimum size), until
 * its buffers fit max_bytes; true when it had to. */
bool viz_fit_size(uint64_t max_bytes, int *width, int *height);

/* A renderer for C classes and img_c x img_h x img_w input images with
 * n_strips strips. host_pixels: the pixels can be read by the host (offscreen). */
int viz_render_create(vk_ctx *vk, int C, int img_w, int img_h, int img_c, int n_strips,
                      bool host_pixels, viz_render **out);
/* On a stuck context (vk->stuck) the device may still use the renderer's
 * objects: destroy leaks them, and resize and bind_outputs fail without
 * another message (the timeout was reported) instead of waiting forever. */
void viz_render_destroy(viz_render **r);
/* (Re)creates the size-dependent buffers; W x H must be at least the minimum
 * and its buffers must fit vk_max_binding_bytes (one error otherwise). */
int viz_render_resize(viz_render *r, int width, int height);

const viz_layout *viz_render_layout(const viz_render *r);
/* Strip 0 reads the engine's outputs: step t at float (t - t0) * C from
 * byte offset off of buf. */
int viz_render_bind_outputs(viz_render *r, const vk_buf *buf, uint64_t off, int t0);
/* Updates the frame data and, when it changed, the text overlay. */
int viz_render_update(viz_render *r, const viz_state *st, const viz_text *text);
/* Records the frame's dispatch; the pixels are ready for transfer and host
 * reads after it. */
void viz_render_record(viz_render *r, VkCommandBuffer cb);
/* The pixel buffer: W x H words, 0xAARRGGBB (or 0xAABBGGRR with swap_rb). */
const vk_buf *viz_render_pixels(const viz_render *r);
void viz_render_set_swap_rb(viz_render *r, bool swap);
/* Renders one frame and writes it as a PNG (host_pixels renderers only). */
int viz_render_png(viz_render *r, const char *path);

#endif
