/* Datasets: IDX files (MNIST family), synthetic sets, normalisation.
 *
 * A dataset is a table of n examples of dim floats and n integer labels in
 * [0, n_classes). Loaders report one clear error naming the file and return
 * non-zero on bad input: wrong magic, truncated data, image/label count
 * mismatch, absurd dimensions, a corrupt gzip stream.
 * Thread-safety: functions touch only their arguments. */
#ifndef VSML_DATA_H
#define VSML_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct vsml_dataset {
    char name[64];
    int n;         /* examples */
    int dim;       /* floats per example = height * width * channels */
    int height, width, channels;
    int n_classes; /* labels are in [0, n_classes) */
    float *x;      /* [n][dim] */
    int32_t *y;    /* [n] */
} vsml_dataset;

void vsml_dataset_free(vsml_dataset *d);

/* Limits that reject absurd files before allocating. */
#define VSML_IDX_MAX_ITEMS 10000000
#define VSML_IDX_MAX_DIM 65536

/* Parse an IDX image file image (magic 0x00000803, uint8 pixels) already in
 * memory and decompressed. Pixels are scaled to [0, 1] (divided by 255).
 * On success *x is malloc'ed [n][rows*cols]. */
int vsml_idx_parse_images(const uint8_t *buf, size_t len, const char *what,
                          float **x, int *n, int *rows, int *cols);
/* Parse an IDX label file (magic 0x00000801, uint8 labels). */
int vsml_idx_parse_labels(const uint8_t *buf, size_t len, const char *what,
                          int32_t **y, int *n);

/* Read a whole file, gunzipping it (zlib) when it starts with the gzip magic.
 * Caps the decompressed size at max_bytes. *buf is malloc'ed. */
int vsml_read_file_maybe_gz(const char *path, size_t max_bytes, uint8_t **buf,
                            size_t *len);

/* Load an IDX image/label pair (raw or .gz). n_classes = max label + 1
 * unless the caller overrides it afterwards. */
int vsml_idx_load(const char *images_path, const char *labels_path,
                  vsml_dataset *out);

/* x = (x - mean) / std for every value. */
void vsml_dataset_normalize(vsml_dataset *d, float mean, float std);

/* Sum Sign (spec section 7): per example mu ~ U(-1, 1), x_i ~ N(mu, 1)
 * truncated at 2 std, label = (sum(x) >= 0). */
int vsml_synth_sumsign(vsml_dataset *out, int n, int dim, uint64_t seed);

/* Random (spec section 7): n_images fixed N(0, 1) images with uniform random
 * labels in [0, n_classes); the table holds exactly those images. */
int vsml_synth_random(vsml_dataset *out, int n_images, int dim, int n_classes,
                      uint64_t seed);

#endif
