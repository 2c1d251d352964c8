/* Checks a `vsml-vk viz --offscreen` PNG against the per-step outputs that
 * `vsml-vk rollout --out` wrote for the same seeds: the image has the
 * requested size, and every cell of the probability strip (last 100 steps x
 * classes) has the colour of softmax(outputs of that step)[class] in the
 * colour map, the true class of every shown step carries the square marker.
 * usage: test_viz_check FRAME.png ROLLOUT.safetensors WIDTH HEIGHT */
#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "viz/viz.h"
#include "vsml/safetensors.h"

#define TOL 3 /* 8-bit levels: float rounding of exp and the polynomial */

static void pixel(cairo_surface_t *s, int x, int y, int rgb[3])
{
    const unsigned char *d = cairo_image_surface_get_data(s);
    uint32_t v;
    memcpy(&v, d + (size_t)y * cairo_image_surface_get_stride(s) + (size_t)x * 4, 4);
    rgb[0] = (int)(v >> 16) & 255;
    rgb[1] = (int)(v >> 8) & 255;
    rgb[2] = (int)v & 255;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_viz_check FRAME.png ROLLOUT.safetensors WIDTH HEIGHT\n");
        return 2;
    }
    int W = atoi(argv[3]), H = atoi(argv[4]);
    cairo_surface_t *png = cairo_image_surface_create_from_png(argv[1]);
    if (cairo_surface_status(png) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    cairo_surface_flush(png);
    CHECK(cairo_image_surface_get_width(png) == W && cairo_image_surface_get_height(png) == H,
          "image is %dx%d, not %dx%d", cairo_image_surface_get_width(png),
          cairo_image_surface_get_height(png), W, H);
    vsml_st st;
    if (vsml_st_read(argv[2], &st) != 0)
        return 1;
    const vsml_tensor *lg = vsml_st_find(&st, "logits"), *lb = vsml_st_find(&st, "labels");
    if (!lg || !lb || lg->ndim != 3 || lg->shape[0] != 1) {
        fprintf(stderr, "%s is not a one-episode rollout\n", argv[2]);
        return 1;
    }
    int T = (int)lg->shape[1], C = (int)lg->shape[2];
    const float *logits = lg->data;
    const int32_t *labels = lb->data;
    viz_layout l;
    viz_layout_make(W, H, 1, 1, 1, &l); /* the strips do not depend on the image */
    int t_first = T > VIZ_STEPS ? T - VIZ_STEPS : 0;
    int worst = 0, cells = 0, squares = 0, lo = 255, hi = 0;
    for (int i = 0; i < VIZ_STEPS && t_first + i < T; i++) {
        const float *y = logits + (size_t)(t_first + i) * C;
        double mx = y[0], sum = 0;
        for (int c = 1; c < C; c++)
            mx = y[c] > mx ? y[c] : mx;
        for (int c = 0; c < C; c++)
            sum += exp(y[c] - mx);
        for (int c = 0; c < C; c++) {
            uint8_t want[3];
            viz_colormap((float)(exp(y[c] - mx) / sum), want);
            int cx, cy, x0, y0, cw, ch, got[3];
            viz_cell(l.strip[0], C, i, c, &cx, &cy, &x0, &y0, &cw, &ch);
            pixel(png, cx, cy, got);
            int d = 0;
            for (int k = 0; k < 3; k++) {
                int e = abs(got[k] - want[k]);
                d = e > d ? e : d;
            }
            CHECK(d <= TOL, "step %d class %d at (%d, %d): pixel %d,%d,%d, expected %d,%d,%d",
                  t_first + i, c, cx, cy, got[0], got[1], got[2], want[0], want[1], want[2]);
            worst = d > worst ? d : worst;
            lo = want[1] < lo ? want[1] : lo;
            hi = want[1] > hi ? want[1] : hi;
            cells++;
            if (c == labels[t_first + i]) {
                int dx, dy;
                viz_square_marker(cw, ch, &dx, &dy);
                pixel(png, x0 + dx, y0 + dy, got);
                CHECK(got[0] == viz_square_rgb[0] && got[1] == viz_square_rgb[1] &&
                          got[2] == viz_square_rgb[2],
                      "step %d: no square on the true class %d at (%d, %d)", t_first + i, c,
                      x0 + dx, y0 + dy);
                squares++;
            }
        }
    }
    /* the comparison means something only if the probabilities differ */
    CHECK(hi - lo > 40, "the expected colours hardly vary (green %d..%d)", lo, hi);
    CHECK(cells == C * (T < VIZ_STEPS ? T : VIZ_STEPS), "%d cells checked", cells);
    fprintf(stderr, "%d cells of %d steps x %d classes, largest channel difference %d; "
            "%d squares\n", cells, T < VIZ_STEPS ? T : VIZ_STEPS, C, worst, squares);
    vsml_st_free(&st);
    cairo_surface_destroy(png);
    TEST_END();
}
