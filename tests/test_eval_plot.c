/* The PNG plots: written for known data, read back with cairo, the size is
 * right and pixels where the known data must be drawn have the colours. */
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "vsml/eval.h"

/* RGB of pixel (x, y) of an image surface (RGB24 or ARGB32, opaque). */
static void pixel(cairo_surface_t *s, int x, int y, double rgb[3])
{
    const unsigned char *d = cairo_image_surface_get_data(s);
    uint32_t v = *(const uint32_t *)(d + (size_t)y * cairo_image_surface_get_stride(s) + 4 * x);
    rgb[0] = ((v >> 16) & 255) / 255.0;
    rgb[1] = ((v >> 8) & 255) / 255.0;
    rgb[2] = (v & 255) / 255.0;
}

static void check_colour(cairo_surface_t *s, double px, double py, const double want[3],
                         const char *what)
{
    double got[3];
    int x = (int)floor(px), y = (int)floor(py);
    pixel(s, x, y, got);
    double err = fmax(fabs(got[0] - want[0]), fmax(fabs(got[1] - want[1]), fabs(got[2] - want[2])));
    CHECK(err <= 3.0 / 255, "%s at (%d, %d): got (%.3f %.3f %.3f), want (%.3f %.3f %.3f)", what,
          x, y, got[0], got[1], got[2], want[0], want[1], want[2]);
}

static cairo_surface_t *load(const char *path, int w, int h)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "%s is not a valid PNG: %s", path,
          cairo_status_to_string(cairo_surface_status(s)));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
        return NULL;
    CHECK(cairo_image_surface_get_width(s) == w && cairo_image_surface_get_height(s) == h,
          "size %dx%d, want %dx%d", cairo_image_surface_get_width(s),
          cairo_image_surface_get_height(s), w, h);
    cairo_surface_flush(s);
    return s;
}

/* Two flat curves over x in [0, 1000] (x max 1000):
 *   series 0 at 0.25 with no band; series 1 at 0.75 with std 0.1.
 * At x = 430 (between the x ticks 400 and 600, so no grid or tick there):
 *   the pixel holding y = 0.25 is series 0's colour (line width 2 covers it);
 *   y = 0.75 is series 1's colour;
 *   y = 0.82 (inside the band 0.65..0.85, off the line and the 0.8 grid line)
 *     is white blended with series 1 at alpha 0.2;
 *   y = 0.45 (no series there, away from grid lines at 0.4 and 0.5) is white. */
static void curves(const char *path)
{
    const int W = 900, H = 500;
    double x[11], m0[11], m1[11], s1[11];
    for (int k = 0; k < 11; k++) {
        x[k] = 100.0 * k;
        m0[k] = 0.25;
        m1[k] = 0.75;
        s1[k] = 0.1;
    }
    vsml_plot_series s[2] = {{.name = "flat 0.25", .n = 11, .x = x, .mean = m0, .std = NULL},
                             {.name = "flat 0.75", .n = 11, .x = x, .mean = m1, .std = s1}};
    CHECK(vsml_plot_curves(path, "test", "step", "accuracy", W, H, 0, s, 2) == 0, "plot");
    cairo_surface_t *img = load(path, W, H);
    if (!img)
        return;
    vsml_plot_frame f;
    vsml_plot_curve_frame(W, H, 1000, &f);
    double c0[3], c1[3], px, py, band[3], white[3] = {1, 1, 1};
    vsml_plot_color(0, c0);
    vsml_plot_color(1, c1);
    for (int k = 0; k < 3; k++)
        band[k] = 1 - VSML_PLOT_BAND_ALPHA + VSML_PLOT_BAND_ALPHA * c1[k];
    vsml_plot_map(&f, 430, 0.25, &px, &py);
    check_colour(img, px, py, c0, "series 0 line");
    vsml_plot_map(&f, 430, 0.75, &px, &py);
    check_colour(img, px, py, c1, "series 1 line");
    vsml_plot_map(&f, 430, 0.82, &px, &py);
    check_colour(img, px, py, band, "series 1 band");
    vsml_plot_map(&f, 430, 0.45, &px, &py);
    check_colour(img, px, py, white, "empty plot area");
    cairo_surface_destroy(img);
}

/* Bars: 2 groups x 3 series, values g * 0.3 + i * 0.1 + 0.2 (group 0:
 * .2, .3, .4; group 1: .5, .6, .7), std 0.02. Each bar's colour is checked
 * at a quarter of its width (off the centred error bar) halfway up; above
 * the top (value + 0.05, beyond the error bar) the pixel is white unless a
 * grid line is there (values chosen so it is not: tops .25, .35, ...). */
static void bars(const char *path)
{
    const int W = 800, H = 480;
    const char *groups[2] = {"a", "b"}, *series[3] = {"x", "y", "z"};
    double mean[6], sd[6];
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 3; i++) {
            mean[g * 3 + i] = g * 0.3 + i * 0.1 + 0.2;
            sd[g * 3 + i] = 0.02;
        }
    CHECK(vsml_plot_bars(path, "bars", "accuracy", W, H, groups, 2, series, 3, mean, sd) == 0,
          "plot");
    cairo_surface_t *img = load(path, W, H);
    if (!img)
        return;
    vsml_plot_frame f;
    vsml_plot_bar_frame(W, H, &f);
    double white[3] = {1, 1, 1};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 3; i++) {
            double xl, xr, px, py, c[3];
            vsml_plot_color(i, c);
            vsml_plot_bar_box(&f, 2, 3, g, i, &xl, &xr);
            double xq = xl + 0.25 * (xr - xl);
            vsml_plot_map(&f, 0, mean[g * 3 + i] / 2, &px, &py);
            check_colour(img, xq, py, c, "bar");
            vsml_plot_map(&f, 0, mean[g * 3 + i] + 0.05, &px, &py);
            check_colour(img, xq, py, white, "above the bar");
        }
    cairo_surface_destroy(img);
}

int main(void)
{
    char dir[] = "/tmp/test_eval_plot.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char p1[64], p2[64];
    snprintf(p1, sizeof(p1), "%s/curves.png", dir);
    snprintf(p2, sizeof(p2), "%s/bars.png", dir);
    curves(p1);
    bars(p2);
    CHECK(vsml_plot_curves(p1, "t", "x", "y", 10, 10, 0, NULL, 0) != 0, "a tiny image is refused");
    if (!test_failures) {
        unlink(p1);
        unlink(p2);
        rmdir(dir);
    } else {
        fprintf(stderr, "images kept in %s\n", dir);
    }
    cairo_debug_reset_static_data(); /* font caches, for LeakSanitizer */
    TEST_END();
}
