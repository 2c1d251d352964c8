/* Datasets: IDX files (MNIST family), CIFAR-10 batches, synthetic sets,
 * normalisation, resizing.
 *
 * A dataset is a table of n examples of dim floats and n integer labels in
 * [0, n_classes). Loaders report one clear error naming the file and return
 * non-zero on bad input: wrong magic, truncated data, image/label count
 * mismatch, absurd dimensions, a corrupt gzip stream.
 * Thread-safety: functions touch only their arguments. */
#ifndef VSML_DATA_H
#define VSML_DATA_H

#include <stdbool.h>
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

/* The same for bytes already in memory (`what` names them): when *buf
 * starts with the gzip magic it is replaced by its decompressed content
 * (the old buffer is freed); otherwise it stays. Fails, leaving *buf to the
 * caller, when the (decompressed) size exceeds max_bytes or the stream is
 * corrupt. */
int vsml_gunzip_if_needed(uint8_t **buf, size_t *len, size_t max_bytes, const char *what);
/* Load an IDX image/label pair (raw or .gz). n_classes = max label + 1
 * unless the caller overrides it afterwards. */
int vsml_idx_load(const char *images_path, const char *labels_path,
                  vsml_dataset *out);

/* CIFAR-10 binary batches: records of 1 label byte (0..9) and 3072 pixel
 * bytes (1024 R, 1024 G, 1024 B, each row-major 32x32). */
#define VSML_CIFAR_RECORD 3073
#define VSML_CIFAR_DIM 3072

/* Parse a batch already in memory. *x is malloc'ed [n][3072] in the file's
 * CHW order, scaled to [0, 1]; *y is malloc'ed [n]. Rejects an empty buffer,
 * a length that is not a multiple of 3073 and labels above 9, with one error
 * naming `what`. */
int vsml_cifar_parse(const uint8_t *buf, size_t len, const char *what, float **x,
                     int32_t **y, int *n);

/* Load DIR/test_batch.bin (test_split) or DIR/data_batch_1..5.bin
 * concatenated; the files may also be under DIR/cifar-10-batches-bin/.
 * height 32, width 32, channels 3, n_classes 10, name "cifar10"; not
 * normalised. */
int vsml_cifar_load(const char *dir, bool test_split, vsml_dataset *out);

/* Bilinear resize of every example to height x width (align_corners=False,
 * no antialias, as torch's F.interpolate(mode='bilinear')), per channel, in
 * place: reallocates d->x and updates height, width and dim. Examples are
 * CHW (channels-major) when channels > 1, plain HxW when 1. Rejects sizes
 * outside [1, 1024] and datasets whose dim != height*width*channels. */
int vsml_dataset_resize(vsml_dataset *d, int height, int width);

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
