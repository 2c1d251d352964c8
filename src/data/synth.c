/* Synthetic data sets (spec section 7). Both draw from the host Philox stream
 * (tag VSML_TAG_DATA, stream 0), so a seed fully determines the data on
 * every machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/data.h"
#include "vsml/log.h"
#include "vsml/rng.h"

static int alloc_dataset(vsml_dataset *d, const char *name, int n, int dim)
{
    memset(d, 0, sizeof(*d));
    if (n <= 0 || n > VSML_IDX_MAX_ITEMS || dim <= 0 || dim > VSML_IDX_MAX_DIM) {
        vsml_err("%s data set: %d examples of %d values is outside [1, %d] x [1, %d]", name,
                 n, dim, VSML_IDX_MAX_ITEMS, VSML_IDX_MAX_DIM);
        return -1;
    }
    d->x = malloc((size_t)n * (size_t)dim * sizeof(float));
    d->y = malloc((size_t)n * sizeof(int32_t));
    if (!d->x || !d->y) {
        vsml_err("%s data set: out of memory for %d examples of %d values", name, n, dim);
        vsml_dataset_free(d);
        return -1;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->n = n;
    d->dim = dim;
    /* 784 values are shown as MNIST-sized images; anything else as a row */
    d->height = dim == 784 ? 28 : 1;
    d->width = dim == 784 ? 28 : dim;
    d->channels = 1;
    return 0;
}

int vsml_synth_sumsign(vsml_dataset *out, int n, int dim, uint64_t seed)
{
    if (alloc_dataset(out, "sumsign", n, dim) != 0)
        return -1;
    out->n_classes = 2;
    vsml_rng rng;
    vsml_rng_init(&rng, seed, 0, VSML_TAG_DATA);
    for (int i = 0; i < n; i++) {
        float *x = out->x + (size_t)i * (size_t)dim;
        double mu = 2.0 * vsml_rng_uniform(&rng) - 1.0;
        /* The label is computed from the stored floats, so that it agrees
         * exactly with any later sum over the same values. */
        double sum = 0.0;
        for (int j = 0; j < dim; j++) {
            x[j] = (float)(mu + vsml_rng_trunc_normal(&rng));
            sum += x[j];
        }
        out->y[i] = sum >= 0.0;
    }
    return 0;
}

int vsml_synth_random(vsml_dataset *out, int n_images, int dim, int n_classes, uint64_t seed)
{
    if (n_classes < 1) {
        memset(out, 0, sizeof(*out));
        vsml_err("random data set: %d classes, need at least 1", n_classes);
        return -1;
    }
    if (alloc_dataset(out, "random", n_images, dim) != 0)
        return -1;
    out->n_classes = n_classes;
    vsml_rng rng;
    vsml_rng_init(&rng, seed, 0, VSML_TAG_DATA);
    for (int i = 0; i < n_images; i++) {
        float *x = out->x + (size_t)i * (size_t)dim;
        for (int j = 0; j < dim; j++)
            x[j] = (float)vsml_rng_normal(&rng);
        out->y[i] = (int32_t)vsml_rng_below(&rng, (uint32_t)n_classes);
    }
    return 0;
}
