#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz/viz.h"
#include "vsml/log.h"
#include "vsml/util.h"

#include "viz_draw.spv.h"

#define BINDINGS 5

/* the push constants of viz_draw.comp */
typedef struct viz_pc {
    uint32_t W, H, C, t_now, n_strips, swap_rb;
    uint32_t img_wh, img_c_curves;
    int32_t rects[VIZ_MAX_STRIPS + 3][4];
    float chance;
    uint32_t off_img, off_curve, pad;
} viz_pc;
_Static_assert(sizeof(viz_pc) <= 128, "push constants must fit in 128 bytes");
#define CURVE_MAX 4096 /* plot columns */

const uint8_t viz_square_rgb[3] = {242, 38, 26}; /* SQUARE and RING in viz_draw.comp */
const uint8_t viz_ring_rgb[3] = {0, 0, 0};

struct viz_render {
    vk_ctx *vk;
    int C, img_w, img_h, img_c, n_strips;
    bool host_pixels, swap_rb;
    uint64_t max_bytes; /* the largest buffer a binding can hold (overlay, pixels) */
    viz_layout lay;
    vk_pipe cols, pipe; /* MODE 0 (columns) and MODE 1 (pixels) of viz_draw.comp */
    VkDescriptorPool pool;
    VkDescriptorSet set;
    vk_buf frame, overlay, pixels, cells;
    const vk_buf *outputs; /* the engine's (not owned) */
    uint64_t outputs_off;
    int outputs_t0;
    size_t off_labels, off_ring, off_img, off_curve, frame_words;
    viz_text drawn;        /* the text in the overlay */
    bool overlay_valid;
};

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void set_rect(int r[4], double x0, double y0, double x1, double y1)
{
    r[0] = (int)x0;
    r[1] = (int)y0;
    r[2] = (int)x1 > r[0] ? (int)x1 : r[0] + 1;
    r[3] = (int)y1 > r[1] ? (int)y1 : r[1] + 1;
}

void viz_layout_make(int W, int H, int n_strips, int img_w, int img_h, viz_layout *l)
{
    memset(l, 0, sizeof(*l));
    l->width = W;
    l->height = H;
    l->n_strips = n_strips;
    double fs = fmin(fmax(fmin(H / 46.0, W / 75.0), 9.0), 20.0);
    l->font = fs;
    double pad = fs, top = pad + 3.4 * fs, bottom = H - pad - 1.6 * fs;
    double panel = W * 0.27, px0 = W - pad - panel;
    double sx0 = pad + 2.4 * fs, sx1 = px0 - pad - 3.6 * fs;
    double slot = (bottom - top) / n_strips;
    for (int s = 0; s < n_strips; s++)
        set_rect(l->strip[s], sx0, top + s * slot + 1.6 * fs, sx1,
                 top + (s + 1) * slot - 1.7 * fs);
    set_rect(l->cbar, sx1 + 0.6 * fs, l->strip[0][1], sx1 + 1.5 * fs,
             l->strip[n_strips - 1][3]);
    double avail = (bottom - top) * 0.45 - 1.6 * fs;
    double scale = fmin(panel / img_w, avail / img_h);
    double iw = fmax(1.0, img_w * scale), ih = fmax(1.0, img_h * scale);
    set_rect(l->img, px0 + (panel - iw) / 2, top + 1.6 * fs, px0 + (panel + iw) / 2,
             top + 1.6 * fs + ih);
    double py0 = l->img[3] + 2.6 * fs;
    set_rect(l->plot, px0 + 2.4 * fs, py0, fmin(W - pad, px0 + 2.4 * fs + CURVE_MAX),
             bottom - (2.2 + 1.3 * n_strips) * fs); /* a legend line per strip below */
}

void viz_colormap(float t, uint8_t rgb[3])
{
    static const float c[7][3] = {
        {0.2777273272234177f, 0.005407344544966578f, 0.3340998053353061f},
        {0.1050930431085774f, 1.404613529898575f, 1.384590162594685f},
        {-0.3308618287255563f, 0.214847559468213f, 0.09509516302823659f},
        {-4.634230498983486f, -5.799100973351585f, -19.33244095627987f},
        {6.228269936347081f, 14.17993336680509f, 56.69055260068105f},
        {4.776384997670288f, -13.74514537774601f, -65.35303263337234f},
        {-5.435455855934631f, 4.645852612178535f, 26.3124352495832f},
    };
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    for (int k = 0; k < 3; k++) {
        float v = c[6][k];
        for (int i = 5; i >= 0; i--)
            v = c[i][k] + t * v;
        v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        rgb[k] = (uint8_t)lrintf(v * 255.0f);
    }
}

static int cell_start(int i, int n, int len)
{
    return (i * len + n - 1) / n;
}

void viz_cell(const int rect[4], int n_rows, int col, int row, int *cx, int *cy, int *x0,
              int *y0, int *w, int *h)
{
    int W = rect[2] - rect[0], H = rect[3] - rect[1];
    int a = cell_start(col, VIZ_STEPS, W), b = cell_start(col + 1, VIZ_STEPS, W);
    int c = cell_start(row, n_rows, H), d = cell_start(row + 1, n_rows, H);
    *x0 = rect[0] + a;
    *y0 = rect[1] + c;
    *w = b - a;
    *h = d - c;
    *cx = *x0 + *w / 2;
    *cy = *y0 + *h / 2;
}

void viz_square_marker(int w, int h, int *dx, int *dy)
{
    int m = w < h ? w : h, side = (int)(0.9f * (float)m);
    side = side < 3 ? 3 : side;
    *dx = (w - side) / 2;
    *dy = (h - side) / 2 + side / 2;
}

bool viz_fit_size(uint64_t max_bytes, int *W, int *H)
{
    if ((uint64_t)*W * (uint64_t)*H * 4 <= max_bytes)
        return false;
    /* the same shape, scaled down (rounding down keeps it within max_bytes) */
    double k = sqrt((double)max_bytes / 4.0 / ((double)*W * (double)*H));
    int w = (int)(*W * k), h = (int)(*H * k);
    w = w < VIZ_MIN_WIDTH ? VIZ_MIN_WIDTH : w;
    h = h < VIZ_MIN_HEIGHT ? VIZ_MIN_HEIGHT : h;
    while ((uint64_t)w * (uint64_t)h * 4 > max_bytes && (w > VIZ_MIN_WIDTH || h > VIZ_MIN_HEIGHT))
        *(w > VIZ_MIN_WIDTH ? &w : &h) -= 1;
    *W = w;
    *H = h;
    return true;
}

int viz_render_create(vk_ctx *vk, int C, int img_w, int img_h, int img_c, int n_strips,
                      bool host_pixels, viz_render **out)
{
    *out = NULL;
    if (C < 1 || img_w < 1 || img_h < 1 || img_w > 65535 || img_h > 65535 ||
        (img_c != 1 && img_c != 3) || n_strips < 1 ||
        n_strips > VIZ_MAX_STRIPS) {
        vsml_err("viz: cannot show %d classes, a %dx%dx%d image and %d strips", C, img_c,
                 img_h, img_w, n_strips);
        return -1;
    }
    viz_render *r = calloc(1, sizeof(*r));
    if (!r) {
        vsml_err("out of memory");
        return -1;
    }
    r->vk = vk;
    r->C = C;
    r->img_w = img_w;
    r->img_h = img_h;
    r->img_c = img_c;
    r->n_strips = n_strips;
    r->host_pixels = host_pixels;
    r->max_bytes = vk_max_binding_bytes(vk);
    r->off_labels = VIZ_H_SIZE;
    r->off_ring = r->off_labels + VIZ_STEPS;
    r->off_img = r->off_ring + (size_t)VIZ_STEPS * C;
    r->off_curve = r->off_img + (size_t)img_w * img_h * img_c;
    r->frame_words = r->off_curve + (size_t)VIZ_MAX_CURVES * CURVE_MAX;
    const uint32_t mode[2] = {0, 1};
    if (vk_pipe_create(vk, &r->cols, spv_viz_draw, sizeof(spv_viz_draw), BINDINGS,
                       sizeof(viz_pc), &mode[0], 1, "viz_draw (columns)") != 0 ||
        vk_pipe_create(vk, &r->pipe, spv_viz_draw, sizeof(spv_viz_draw), BINDINGS,
                       sizeof(viz_pc), &mode[1], 1, "viz_draw") != 0 ||
        vk_buf_create(vk, &r->frame, r->frame_words * 4, VK_BUF_HOST, "viz frame") != 0 ||
        vk_buf_create(vk, &r->cells, (VkDeviceSize)VIZ_MAX_STRIPS * VIZ_STEPS * (C + 1) * 4,
                      VK_BUF_DEVICE, "viz columns") != 0 ||
        vk_desc_pool_create(vk, &r->pool, 1, BINDINGS) != 0 ||
        vk_desc_alloc(vk, r->pool, &r->pipe, &r->set) != 0) {
        viz_render_destroy(&r);
        return -1;
    }
    memset(r->frame.map, 0, r->frame_words * 4);
    *out = r;
    return 0;
}

void viz_render_destroy(viz_render **pr)
{
    viz_render *r = *pr;
    if (!r)
        return;
    if (r->vk->stuck) { /* work may still use it all: leak it, as vk_ctx_destroy does */
        free(r);
        *pr = NULL;
        return;
    }
    vkDeviceWaitIdle(r->vk->dev);
    vk_buf_destroy(r->vk, &r->frame);
    vk_buf_destroy(r->vk, &r->overlay);
    vk_buf_destroy(r->vk, &r->pixels);
    if (r->pool)
        vkDestroyDescriptorPool(r->vk->dev, r->pool, NULL);
    vk_pipe_destroy(r->vk, &r->pipe);
    vk_pipe_destroy(r->vk, &r->cols);
    vk_buf_destroy(r->vk, &r->cells);
    free(r);
    *pr = NULL;
}

static void write_descriptors(viz_render *r)
{
    const vk_buf *b[BINDINGS] = {r->outputs ? r->outputs : &r->frame, &r->frame, &r->overlay,
                                 &r->pixels, &r->cells};
    VkDescriptorBufferInfo bi[BINDINGS];
    VkWriteDescriptorSet w[BINDINGS];
    /* the overlay and pixels exactly (their buffers are rounded up, past the limit maybe) */
    VkDeviceSize frame_bytes = (VkDeviceSize)r->lay.width * (VkDeviceSize)r->lay.height * 4;
    for (int i = 0; i < BINDINGS; i++) {
        bi[i] = (VkDescriptorBufferInfo){.buffer = b[i]->buf,
                                         .range = i == 2 || i == 3 ? frame_bytes : VK_WHOLE_SIZE,
                                         .offset = i == 0 && r->outputs ? r->outputs_off : 0};
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = r->set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &bi[i],
        };
    }
    vkUpdateDescriptorSets(r->vk->dev, BINDINGS, w, 0, NULL);
}

int viz_render_resize(viz_render *r, int W, int H)
{
    if (W < VIZ_MIN_WIDTH || H < VIZ_MIN_HEIGHT || W > 16384 || H > 16384) {
        vsml_err("viz: a frame of %dx%d pixels is outside %dx%d .. 16384x16384", W, H,
                 VIZ_MIN_WIDTH, VIZ_MIN_HEIGHT);
        return -1;
    }
    uint64_t bytes = (uint64_t)W * (uint64_t)H * 4;
    if (bytes > r->max_bytes) {
        vsml_err("viz: a frame of %dx%d pixels needs %.1f MiB per buffer, more than the device "
                 "can bind (%.1f MiB): use a smaller size", W, H, bytes / 1048576.0,
                 r->max_bytes / 1048576.0);
        return -1;
    }
    if (r->vk->stuck) /* reported when it got stuck; waiting would hang */
        return -1;
    vkDeviceWaitIdle(r->vk->dev);
    vk_buf_destroy(r->vk, &r->overlay);
    vk_buf_destroy(r->vk, &r->pixels);
    if (vk_buf_create(r->vk, &r->overlay, bytes, VK_BUF_HOST, "viz text overlay") != 0 ||
        vk_buf_create(r->vk, &r->pixels, bytes, r->host_pixels ? VK_BUF_HOST : VK_BUF_DEVICE,
                      "viz pixels") != 0)
        return -1;
    viz_layout_make(W, H, r->n_strips, r->img_w, r->img_h, &r->lay);
    r->overlay_valid = false;
    write_descriptors(r);
    return 0;
}

const viz_layout *viz_render_layout(const viz_render *r)
{
    return &r->lay;
}

int viz_render_bind_outputs(viz_render *r, const vk_buf *buf, uint64_t off, int t0)
{
    uint64_t align = r->vk->props.limits.minStorageBufferOffsetAlignment;
    if (!buf || (align && off % align)) {
        vsml_err("viz: the engine's outputs cannot be bound (offset %llu)",
                 (unsigned long long)off);
        return -1;
    }
    if (r->vk->stuck) /* reported when it got stuck; waiting would hang */
        return -1;
    vkDeviceWaitIdle(r->vk->dev);
    r->outputs = buf;
    r->outputs_off = off;
    r->outputs_t0 = t0;
    if (r->pixels.buf)
        write_descriptors(r);
    return 0;
}

const vk_buf *viz_render_pixels(const viz_render *r)
{
    return &r->pixels;
}

void viz_render_set_swap_rb(viz_render *r, bool swap)
{
    r->swap_rb = swap;
}

/* ---- the text overlay (cairo) ---- */

static void text_at(cairo_t *cr, double x, double y, double ax, double ay, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static const double curve_rgb[VIZ_MAX_CURVES][3] = {{0.122, 0.467, 0.706}, {1.0, 0.498, 0.055}};

static void draw_overlay(viz_render *r, const viz_state *st, const viz_text *tx)
{
    const viz_layout *l = &r->lay;
    cairo_surface_t *s = cairo_image_surface_create_for_data(
        r->overlay.map, CAIRO_FORMAT_ARGB32, l->width, l->height, l->width * 4);
    cairo_t *cr = cairo_create(s);
    cairo_set_operator(cr, CAIRO_OPERATOR_CLEAR);
    cairo_paint(cr);
    cairo_set_operator(cr, CAIRO_OPERATOR_OVER);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double fs = l->font, pad = fs;
    char buf[64];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, fs * 1.15);
    text_at(cr, pad, pad, 0, 0, tx->title);
    cairo_set_font_size(cr, fs);
    text_at(cr, pad, pad + 1.9 * fs, 0, 0, tx->status);
    text_at(cr, pad, l->height - pad, 0, 1, tx->help);
    int t_first = st->t_now > VIZ_STEPS ? st->t_now - VIZ_STEPS : 0;
    for (int k = 0; k < r->n_strips; k++) {
        const int *sr = l->strip[k];
        text_at(cr, sr[0], sr[1] - 0.4 * fs, 0, 1, tx->strip[k]);
        double rh = (double)(sr[3] - sr[1]) / r->C;
        int every = (int)ceil(fs * 1.1 / rh);
        for (int c = 0; c < r->C; c += every) {
            snprintf(buf, sizeof(buf), "%d", c);
            text_at(cr, sr[0] - 0.4 * fs, sr[1] + (c + 0.5) * rh, 1, 0.5, buf);
        }
        snprintf(buf, sizeof(buf), "step %d", t_first + 1);
        text_at(cr, sr[0], sr[3] + 0.3 * fs, 0, 0, buf);
        snprintf(buf, sizeof(buf), "step %d", t_first + VIZ_STEPS);
        text_at(cr, sr[2], sr[3] + 0.3 * fs, 1, 0, buf);
    }
    const int *cb = l->cbar;
    text_at(cr, cb[2] + 0.3 * fs, cb[1], 0, 0, "1");
    text_at(cr, cb[2] + 0.3 * fs, (cb[1] + cb[3]) / 2.0, 0, 0.5, "0.5");
    text_at(cr, cb[2] + 0.3 * fs, cb[3], 0, 1, "0");
    text_at(cr, (cb[0] + cb[2]) / 2.0, cb[1] - 0.4 * fs, 0.5, 1, "p");
    text_at(cr, l->img[0], l->img[1] - 0.4 * fs, 0, 1, tx->image);
    const int *pl = l->plot;
    text_at(cr, pl[0], pl[1] - 0.4 * fs, 0, 1, "online accuracy (running mean)");
    text_at(cr, pl[0] - 0.3 * fs, pl[1], 1, 0, "1");
    text_at(cr, pl[0] - 0.3 * fs, (pl[1] + pl[3]) / 2.0, 1, 0.5, "0.5");
    text_at(cr, pl[0] - 0.3 * fs, pl[3], 1, 1, "0");
    text_at(cr, pl[0], pl[3] + 0.3 * fs, 0, 0, "step 0");
    snprintf(buf, sizeof(buf), "%d", st->t_now);
    text_at(cr, pl[2], pl[3] + 0.3 * fs, 1, 0, buf);
    for (int k = 0; k < st->n_curves; k++) {
        double y = pl[3] + (1.6 + 1.3 * k) * fs;
        cairo_set_source_rgb(cr, curve_rgb[k][0], curve_rgb[k][1], curve_rgb[k][2]);
        cairo_rectangle(cr, pl[0], y + 0.3 * fs, 1.2 * fs, 0.4 * fs);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, pl[0] + 1.6 * fs, y, 0, 0, tx->curve[k]);
    }
    cairo_destroy(cr);
    cairo_surface_flush(s);
    cairo_surface_destroy(s);
}

static void put_f(uint32_t *w, size_t i, float v)
{
    memcpy(&w[i], &v, 4);
}

static void put_rect(uint32_t *w, size_t at, const int r[4])
{
    for (int i = 0; i < 4; i++)
        w[at + i] = (uint32_t)r[i];
}

int viz_render_update(viz_render *r, const viz_state *st, const viz_text *text)
{
    if (!r->pixels.buf) {
        vsml_err("viz: the renderer has no size yet");
        return -1;
    }
    const viz_layout *l = &r->lay;
    uint32_t *w = r->frame.map;
    int n_curve = l->plot[2] - l->plot[0];
    w[VIZ_H_WIDTH] = (uint32_t)l->width;
    w[VIZ_H_HEIGHT] = (uint32_t)l->height;
    w[VIZ_H_CLASSES] = (uint32_t)r->C;
    w[VIZ_H_T_NOW] = (uint32_t)st->t_now;
    w[VIZ_H_N_STRIPS] = (uint32_t)r->n_strips;
    w[VIZ_H_SWAP_RB] = r->swap_rb;
    w[VIZ_H_IMG_W] = (uint32_t)r->img_w;
    w[VIZ_H_IMG_H] = (uint32_t)r->img_h;
    w[VIZ_H_IMG_C] = (uint32_t)r->img_c;
    w[VIZ_H_CURVE_N] = (uint32_t)n_curve;
    w[VIZ_H_N_CURVES] = (uint32_t)st->n_curves;
    w[VIZ_H_OFF_LABELS] = (uint32_t)r->off_labels;
    w[VIZ_H_OFF_RING] = (uint32_t)r->off_ring;
    w[VIZ_H_OFF_IMG] = (uint32_t)r->off_img;
    w[VIZ_H_OFF_CURVE] = (uint32_t)r->off_curve;
    w[VIZ_H_LOGITS_T0] = (uint32_t)r->outputs_t0;
    put_f(w, VIZ_H_CHANCE, st->chance);
    for (int s = 0; s < VIZ_MAX_STRIPS; s++)
        put_rect(w, VIZ_H_RECT_STRIP + 4 * s, l->strip[s]);
    put_rect(w, VIZ_H_RECT_IMG, l->img);
    put_rect(w, VIZ_H_RECT_PLOT, l->plot);
    put_rect(w, VIZ_H_RECT_CBAR, l->cbar);
    for (int i = 0; i < VIZ_STEPS; i++)
        w[r->off_labels + i] = (uint32_t)clampi(st->labels ? st->labels[i] : 0, 0, r->C - 1);
    if (st->ring)
        memcpy(&w[r->off_ring], st->ring, (size_t)VIZ_STEPS * r->C * 4);
    if (st->image)
        memcpy(&w[r->off_img], st->image, (size_t)r->img_w * r->img_h * r->img_c * 4);
    /* column i shows the running accuracy after step ceil((i + 1) * t_now / n) */
    for (int k = 0; k < VIZ_MAX_CURVES; k++)
        for (int i = 0; i < n_curve; i++) {
            float v = -1.0f;
            long t = ((long)(i + 1) * st->t_now + n_curve - 1) / n_curve;
            if (k < st->n_curves && st->cum[k] && t >= 1)
                v = st->cum[k][t - 1] / (float)t;
            put_f(w, r->off_curve + (size_t)k * n_curve + i, v);
        }
    if (!r->overlay_valid || memcmp(text, &r->drawn, sizeof(*text)) != 0) {
        draw_overlay(r, st, text);
        r->drawn = *text;
        r->overlay_valid = true;
    }
    return 0;
}

void viz_render_record(viz_render *r, VkCommandBuffer cb)
{
    const uint32_t *h = r->frame.map;
    const viz_layout *l = &r->lay;
    viz_pc pc = {.W = h[VIZ_H_WIDTH], .H = h[VIZ_H_HEIGHT], .C = h[VIZ_H_CLASSES],
                 .t_now = h[VIZ_H_T_NOW], .n_strips = h[VIZ_H_N_STRIPS],
                 .swap_rb = h[VIZ_H_SWAP_RB],
                 .img_wh = h[VIZ_H_IMG_W] | h[VIZ_H_IMG_H] << 16,
                 .img_c_curves = h[VIZ_H_IMG_C] | h[VIZ_H_N_CURVES] << 16,
                 .off_img = h[VIZ_H_OFF_IMG], .off_curve = h[VIZ_H_OFF_CURVE]};
    memcpy(&pc.chance, &h[VIZ_H_CHANCE], 4);
    for (int s = 0; s < VIZ_MAX_STRIPS; s++)
        memcpy(pc.rects[s], l->strip[s], sizeof(pc.rects[s]));
    memcpy(pc.rects[VIZ_MAX_STRIPS], l->img, sizeof(pc.rects[0]));
    memcpy(pc.rects[VIZ_MAX_STRIPS + 1], l->plot, sizeof(pc.rects[0]));
    memcpy(pc.rects[VIZ_MAX_STRIPS + 2], l->cbar, sizeof(pc.rects[0]));
    vk_cmd_barrier(cb); /* the engine's outputs are written before */
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->cols.pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->cols.layout, 0, 1, &r->set,
                            0, NULL);
    vkCmdPushConstants(cb, r->cols.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(pc), &pc);
    vkCmdDispatch(cb, (VIZ_STEPS + VIZ_WG - 1) / VIZ_WG, 1, 1);
    vk_cmd_barrier(cb);
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->pipe.pipe);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->pipe.layout, 0, 1, &r->set,
                            0, NULL);
    vkCmdPushConstants(cb, r->pipe.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(pc), &pc);
    vkCmdDispatch(cb, (uint32_t)(r->lay.width + VIZ_WG - 1) / VIZ_WG,
                  (uint32_t)(r->lay.height + VIZ_WG - 1) / VIZ_WG, 1);
    vk_cmd_barrier(cb);
}

int viz_render_png(viz_render *r, const char *path)
{
    if (!r->host_pixels) {
        vsml_err("viz: this renderer keeps its pixels on the device");
        return -1;
    }
    VkCommandBuffer cb;
    double t0 = vsml_now();
    if (vk_cmd_begin(r->vk, &cb) != 0)
        return -1;
    viz_render_record(r, cb);
    if (vk_cmd_submit_wait(r->vk, cb) != 0)
        return -1;
    vsml_dbg("viz: frame drawn in %.1f ms", (vsml_now() - t0) * 1e3);
    int W = r->lay.width, H = r->lay.height;
    cairo_surface_t *s = cairo_image_surface_create_for_data(r->pixels.map, CAIRO_FORMAT_RGB24,
                                                             W, H, W * 4);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cairo_status_t cs = cairo_surface_write_to_png(s, tmp);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS || rename(tmp, path) != 0) {
        vsml_err("cannot write %s: %s", path,
                 cs != CAIRO_STATUS_SUCCESS ? cairo_status_to_string(cs) : strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}
