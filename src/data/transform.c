/* Dataset transforms: bilinear resizing (spec section 7: "resizing to 14x14,
 * 32x32, 48x48, 21x21"). */
#include <limits.h>
#include <stdlib.h>

#include "vsml/data.h"
#include "vsml/log.h"

#define RESIZE_MAX 1024

/* One output coordinate's two source taps, as torch computes them for
 * align_corners=False: src = (dst + 0.5) * in / out - 0.5, clamped at 0. */
typedef struct tap {
    int i0, i1;
    float w1; /* weight of i1; i0 gets 1 - w1 */
} tap;

static void make_taps(tap *t, int in, int out)
{
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float src = ((float)o + 0.5f) * scale - 0.5f;
        if (src < 0.0f)
            src = 0.0f;
        int i0 = (int)src;
        if (i0 > in - 1)
            i0 = in - 1;
        t[o].i0 = i0;
        t[o].i1 = i0 < in - 1 ? i0 + 1 : i0;
        t[o].w1 = src - (float)i0;
    }
}

int vsml_dataset_resize(vsml_dataset *d, int height, int width)
{
    const char *name = d->name[0] ? d->name : "(unnamed)";
    if (height < 1 || height > RESIZE_MAX || width < 1 || width > RESIZE_MAX) {
        vsml_err("cannot resize dataset %s to %dx%d: sizes must be in 1..%d", name, height,
                 width, RESIZE_MAX);
        return -1;
    }
    if (d->height < 1 || d->width < 1 || d->channels < 1 ||
        (long long)d->height * d->width * d->channels != d->dim) {
        vsml_err("cannot resize dataset %s: dim %d is not height %d x width %d x channels %d",
                 name, d->dim, d->height, d->width, d->channels);
        return -1;
    }
    if (height == d->height && width == d->width)
        return 0;
    long long new_dim = (long long)height * width * d->channels;
    if (new_dim > INT_MAX) {
        vsml_err("cannot resize dataset %s to %dx%d: %d channels make examples too large",
                 name, height, width, d->channels);
        return -1;
    }
    int ih = d->height, iw = d->width, c = d->channels;
    float *nx = malloc((size_t)d->n * (size_t)new_dim * sizeof(float) + 1);
    tap *th = malloc((size_t)height * sizeof(tap));
    tap *tw = malloc((size_t)width * sizeof(tap));
    if (!nx || !th || !tw) {
        free(nx);
        free(th);
        free(tw);
        vsml_err("out of memory resizing dataset %s to %dx%d", name, height, width);
        return -1;
    }
    make_taps(th, ih, height);
    make_taps(tw, iw, width);
    for (size_t e = 0; e < (size_t)d->n; e++)
        for (int ch = 0; ch < c; ch++) {
            const float *src = d->x + e * (size_t)d->dim + (size_t)ch * ih * iw;
            float *dst = nx + e * (size_t)new_dim + (size_t)ch * height * width;
            for (int oy = 0; oy < height; oy++) {
                const float *r0 = src + (size_t)th[oy].i0 * iw;
                const float *r1 = src + (size_t)th[oy].i1 * iw;
                float wy1 = th[oy].w1, wy0 = 1.0f - wy1;
                for (int ox = 0; ox < width; ox++) {
                    int x0 = tw[ox].i0, x1 = tw[ox].i1;
                    float wx1 = tw[ox].w1, wx0 = 1.0f - wx1;
                    dst[(size_t)oy * width + ox] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) +
                                                   wy1 * (wx0 * r1[x0] + wx1 * r1[x1]);
                }
            }
        }
    free(th);
    free(tw);
    free(d->x);
    d->x = nx;
    d->height = height;
    d->width = width;
    d->dim = (int)new_dim;
    return 0;
}
