/* PNG figures with cairo: learning curves with standard-deviation bands
 * (the paper's Figure 12) and grouped bars (Figure 8). */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/eval.h"
#include "vsml/log.h"
#include "vsml/util.h"

#define LEGEND_W 190.0
#define MARGIN_L 70.0
#define MARGIN_T 40.0
#define MARGIN_B_CURVE 55.0
#define MARGIN_B_BARS 70.0

void vsml_plot_color(int i, double rgb[3])
{
    /* Tableau-like palette: blue, orange, green, red, purple, brown, pink, grey. */
    static const unsigned char pal[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                           {214, 39, 40}, {148, 103, 189}, {140, 86, 75},
                                           {227, 119, 194}, {127, 127, 127}};
    const unsigned char *c = pal[(unsigned)i % (sizeof(pal) / sizeof(pal[0]))];
    for (int k = 0; k < 3; k++)
        rgb[k] = c[k] / 255.0;
}

static void frame_box(int width, int height, double bottom_margin, vsml_plot_frame *f)
{
    f->width = width;
    f->height = height;
    f->left = MARGIN_L;
    f->top = MARGIN_T;
    f->right = width - LEGEND_W;
    f->bottom = height - bottom_margin;
}

void vsml_plot_curve_frame(int width, int height, double x_max, vsml_plot_frame *f)
{
    frame_box(width, height, MARGIN_B_CURVE, f);
    f->x0 = 0;
    f->x1 = x_max > 0 ? x_max : 1;
    f->y0 = 0;
    f->y1 = 1;
}

void vsml_plot_bar_frame(int width, int height, vsml_plot_frame *f)
{
    frame_box(width, height, MARGIN_B_BARS, f);
    f->x0 = 0;
    f->x1 = 1;
    f->y0 = 0;
    f->y1 = 1;
}

void vsml_plot_map(const vsml_plot_frame *f, double x, double y, double *px, double *py)
{
    *px = f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
    *py = f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
}

void vsml_plot_bar_box(const vsml_plot_frame *f, int n_groups, int n_series, int g, int i,
                       double *x_left, double *x_right)
{
    double gw = (f->right - f->left) / n_groups, bw = 0.8 * gw / n_series;
    *x_left = f->left + g * gw + 0.1 * gw + i * bw;
    *x_right = *x_left + bw;
}

/* ---- drawing helpers ---- */

static double nice_step(double range, int target)
{
    double raw = range / target, p = pow(10, floor(log10(raw))), r = raw / p;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * p;
}

static void text_at(cairo_t *cr, double x, double y, double size, double ax, double ay,
                    const char *s)
{
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void begin(cairo_t *cr, const vsml_plot_frame *f, const char *title)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, (f->left + f->right) / 2, f->top / 2, 15, 0.5, 0.5, title);
}

/* Horizontal grid and y tick labels every 0.1 (labels every 0.2). */
static void y_axis(cairo_t *cr, const vsml_plot_frame *f, const char *ylabel)
{
    char buf[32];
    for (int k = 0; k <= 10; k++) {
        double px, py;
        vsml_plot_map(f, f->x0, k / 10.0, &px, &py);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, f->left, floor(py) + 0.5);
        cairo_line_to(cr, f->right, floor(py) + 0.5);
        cairo_stroke(cr);
        if (k % 2)
            continue;
        snprintf(buf, sizeof(buf), "%.1f", k / 10.0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, f->left - 6, py, 11, 1, 0.5, buf);
    }
    cairo_save(cr);
    cairo_translate(cr, 16, (f->top + f->bottom) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, 12, 0.5, 0.5, ylabel);
    cairo_restore(cr);
}

static void x_axis_numbers(cairo_t *cr, const vsml_plot_frame *f, const char *xlabel)
{
    double step = nice_step(f->x1 - f->x0, 6);
    char buf[32];
    for (double x = ceil(f->x0 / step) * step; x <= f->x1 + 1e-9 * step; x += step) {
        double px, py;
        vsml_plot_map(f, x, f->y0, &px, &py);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, 1);
        cairo_move_to(cr, floor(px) + 0.5, f->bottom);
        cairo_line_to(cr, floor(px) + 0.5, f->bottom + 4);
        cairo_stroke(cr);
        snprintf(buf, sizeof(buf), "%g", x);
        text_at(cr, px, f->bottom + 8, 11, 0.5, 0, buf);
    }
    text_at(cr, (f->left + f->right) / 2, f->height - 12, 12, 0.5, 1, xlabel);
}

static void box(cairo_t *cr, const vsml_plot_frame *f)
{
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, floor(f->left) + 0.5, floor(f->top) + 0.5, floor(f->right - f->left),
                    floor(f->bottom - f->top));
    cairo_stroke(cr);
}

static void legend(cairo_t *cr, const vsml_plot_frame *f, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        double rgb[3], y = f->top + 10 + 20 * i;
        vsml_plot_color(i, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_rectangle(cr, f->right + 14, y - 5, 22, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, f->right + 42, y, 12, 0, 0.5, names[i]);
    }
}

typedef struct png_buf {
    unsigned char *data;
    size_t len, cap;
} png_buf;

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int len)
{
    png_buf *b = closure;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return CAIRO_STATUS_NO_MEMORY;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return CAIRO_STATUS_SUCCESS;
}

/* Checks the drawing, encodes the PNG and writes it atomically. */
static int finish(cairo_surface_t *s, cairo_t *cr, const char *path)
{
    cairo_status_t st = cairo_status(cr);
    png_buf b = {0};
    if (st == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(s);
        st = cairo_surface_write_to_png_stream(s, png_append, &b);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    int rc = -1;
    if (st != CAIRO_STATUS_SUCCESS)
        vsml_err("%s: drawing the plot failed: %s", path, cairo_status_to_string(st));
    else
        rc = vsml_write_file_atomic(path, b.data, b.len);
    free(b.data);
    return rc;
}

static int start(const char *path, int width, int height, cairo_surface_t **s, cairo_t **cr)
{
    if (width < 320 || height < 200 || width > 8192 || height > 8192) {
        vsml_err("%s: plot size %dx%d is outside 320x200 .. 8192x8192", path, width, height);
        return -1;
    }
    *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    *cr = cairo_create(*s);
    if (cairo_status(*cr) != CAIRO_STATUS_SUCCESS) {
        vsml_err("%s: cannot create a %dx%d image: %s", path, width, height,
                 cairo_status_to_string(cairo_status(*cr)));
        cairo_destroy(*cr);
        cairo_surface_destroy(*s);
        return -1;
    }
    return 0;
}

/* ---- learning curves ---- */

static void band(cairo_t *cr, const vsml_plot_frame *f, const vsml_plot_series *s)
{
    double px, py;
    for (int k = 0; k < s->n; k++) {
        vsml_plot_map(f, s->x[k], s->mean[k] + s->std[k], &px, &py);
        if (k == 0)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
    }
    for (int k = s->n - 1; k >= 0; k--) {
        vsml_plot_map(f, s->x[k], s->mean[k] - s->std[k], &px, &py);
        cairo_line_to(cr, px, py);
    }
    cairo_close_path(cr);
    cairo_fill(cr);
}

static void line(cairo_t *cr, const vsml_plot_frame *f, const vsml_plot_series *s)
{
    double px, py;
    for (int k = 0; k < s->n; k++) {
        vsml_plot_map(f, s->x[k], s->mean[k], &px, &py);
        if (k == 0)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
    }
    cairo_set_line_width(cr, VSML_PLOT_LINE_WIDTH);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke(cr);
    if (s->n > 40)
        return;
    for (int k = 0; k < s->n; k++) { /* few points: mark each */
        vsml_plot_map(f, s->x[k], s->mean[k], &px, &py);
        cairo_arc(cr, px, py, 3, 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

int vsml_plot_curves(const char *path, const char *title, const char *xlabel,
                     const char *ylabel, int width, int height, double x_max,
                     const vsml_plot_series *s, int n_series)
{
    double data_max = 0;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++)
            data_max = s[i].x[k] > data_max ? s[i].x[k] : data_max;
    x_max = x_max > 0 ? x_max : data_max;
    vsml_plot_frame f;
    vsml_plot_curve_frame(width, height, x_max, &f);
    cairo_surface_t *surf;
    cairo_t *cr;
    if (start(path, width, height, &surf, &cr) != 0)
        return -1;
    begin(cr, &f, title);
    y_axis(cr, &f, ylabel);
    x_axis_numbers(cr, &f, xlabel);
    cairo_save(cr);
    cairo_rectangle(cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
    cairo_clip(cr);
    for (int i = 0; i < n_series; i++) {
        double rgb[3];
        vsml_plot_color(i, rgb);
        cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], VSML_PLOT_BAND_ALPHA);
        if (s[i].std && s[i].n > 0)
            band(cr, &f, &s[i]);
    }
    for (int i = 0; i < n_series; i++) {
        double rgb[3];
        vsml_plot_color(i, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        if (s[i].n > 0)
            line(cr, &f, &s[i]);
    }
    cairo_restore(cr);
    box(cr, &f);
    const char *names[64];
    int nn = n_series < 64 ? n_series : 64;
    for (int i = 0; i < nn; i++)
        names[i] = s[i].name;
    legend(cr, &f, names, nn);
    return finish(surf, cr, path);
}

/* ---- grouped bars ---- */

static void bar(cairo_t *cr, const vsml_plot_frame *f, double xl, double xr, double mean,
                double std, int i)
{
    double rgb[3], px, py, p0, pt, pb;
    vsml_plot_color(i, rgb);
    vsml_plot_map(f, 0, mean < 0 ? 0 : mean > 1 ? 1 : mean, &px, &py);
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle(cr, xl, py, xr - xl, f->bottom - py);
    cairo_fill(cr);
    if (!(std > 0))
        return;
    vsml_plot_map(f, 0, mean + std, &p0, &pt);
    vsml_plot_map(f, 0, mean - std, &p0, &pb);
    double xc = floor((xl + xr) / 2) + 0.5, cap = (xr - xl) / 6;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, xc, pt);
    cairo_line_to(cr, xc, pb);
    cairo_move_to(cr, xc - cap, pt);
    cairo_line_to(cr, xc + cap, pt);
    cairo_move_to(cr, xc - cap, pb);
    cairo_line_to(cr, xc + cap, pb);
    cairo_stroke(cr);
}

int vsml_plot_bars(const char *path, const char *title, const char *ylabel, int width,
                   int height, const char *const *groups, int n_groups,
                   const char *const *series, int n_series, const double *mean,
                   const double *std)
{
    if (n_groups < 1 || n_series < 1) {
        vsml_err("%s: a bar chart needs at least one group and one series", path);
        return -1;
    }
    vsml_plot_frame f;
    vsml_plot_bar_frame(width, height, &f);
    cairo_surface_t *surf;
    cairo_t *cr;
    if (start(path, width, height, &surf, &cr) != 0)
        return -1;
    begin(cr, &f, title);
    y_axis(cr, &f, ylabel);
    for (int g = 0; g < n_groups; g++) {
        double xl, xr, a, b;
        for (int i = 0; i < n_series; i++) {
            vsml_plot_bar_box(&f, n_groups, n_series, g, i, &xl, &xr);
            size_t k = (size_t)g * n_series + i;
            bar(cr, &f, xl, xr, mean[k], std ? std[k] : 0, i);
        }
        vsml_plot_bar_box(&f, n_groups, n_series, g, 0, &a, &xr);
        vsml_plot_bar_box(&f, n_groups, n_series, g, n_series - 1, &xl, &b);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, (a + b) / 2, f.bottom + 8, 12, 0.5, 0, groups[g]);
    }
    box(cr, &f);
    legend(cr, &f, series, n_series < 64 ? n_series : 64);
    return finish(surf, cr, path);
}
