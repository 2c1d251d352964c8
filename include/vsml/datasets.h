/* Datasets by name: synthetic ones generated on the spot, MNIST-family IDX
 * files found in a data directory or the standard locations, normalised with
 * the constants of spec section 7. Thread-safety: reentrant. */
#ifndef VSML_DATASETS_H
#define VSML_DATASETS_H

#include <stdbool.h>

#include "vsml/data.h"

typedef struct vsml_dataset_req {
    const char *name;     /* mnist, fashion_mnist, emnist, kmnist, cifar10, sumsign, random, idx */
    const char *data_dir; /* NULL = VSML_DATA_DIR env, ./data, /usr/share/datasets */
    bool test_split;      /* t10k files instead of train */
    const char *images;   /* for name "idx": explicit files */
    const char *labels;
    int synth_n;          /* synthetic: number of examples (sumsign) */
    int random_tasks;     /* random: tasks of 20 images each, one after the other (<= 1: one) */
    int synth_dim;        /* synthetic: input size (default 784) */
    uint64_t seed;        /* synthetic: generator seed */
} vsml_dataset_req;

int vsml_dataset_open(const vsml_dataset_req *req, vsml_dataset *out);
/* A one-line list of the known names, for help texts. */
const char *vsml_dataset_names(void);

#endif
