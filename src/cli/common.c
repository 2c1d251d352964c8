#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vsml/engine.h"
#include "vsml/log.h"
#include "vsml/rng.h"
#include "vsml/util.h"
#include "vsml_config.h"

int cli_model_config(const cli_model_opts *o, const vsml_dataset *ds, vsml_model_config *cfg)
{
    int sizes[VSML_MAX_LAYERS + 2];
    int n;
    if (o->layers) {
        n = args_sizes("--layers", o->layers, sizes, VSML_MAX_LAYERS + 1);
        if (n < 0)
            return -1;
    } else {
        sizes[0] = ds->dim;
        sizes[1] = ds->n_classes;
        n = 2;
    }
    int N = o->state_size;
    if (N == 0 && o->params_file && (N = vsml_params_file_state_size(o->params_file)) < 0)
        return -1;
    vsml_model_opts mo = {.micro_ticks = o->micro_ticks, .feed_label = o->feed_label,
                          .backward_pass = o->backward_pass, .per_layer_params = o->per_layer,
                          .clip_state = o->clip, .init = o->init, .loss = o->loss,
                          .state_size = N};
    mo.clear_bwd = o->clear_bwd;
    mo.state_f16 = o->state_fp16;
    if (vsml_model_config_make(cfg, n - 1, sizes, &mo) != 0)
        return -1;
    if (ds && cfg->sizes[0] != ds->dim) {
        vsml_err("the network has %d inputs but dataset %s has %d values per example",
                 cfg->sizes[0], ds->name, ds->dim);
        return -1;
    }
    if (ds && cfg->sizes[cfg->n_layers] < ds->n_classes) {
        vsml_err("the network has %d outputs but dataset %s has %d classes",
                 cfg->sizes[cfg->n_layers], ds->name, ds->n_classes);
        return -1;
    }
    return 0;
}

int cli_make_streams(const vsml_dataset *ds, int n_streams, int T, uint64_t seed,
                     int32_t **stream)
{
    return cli_make_streams_blocks(ds, n_streams, T, seed, 0, stream);
}

int cli_make_streams_blocks(const vsml_dataset *ds, int n_streams, int T, uint64_t seed,
                            int block, int32_t **stream)
{
    if (block > 0 && (size_t)block * (size_t)n_streams > (size_t)ds->n) {
        vsml_err("%d streams of %d examples each need %zu examples; data set %s has %d",
                 n_streams, block, (size_t)block * (size_t)n_streams, ds->name, ds->n);
        return -1;
    }
    size_t n = (size_t)n_streams * (size_t)T;
    int32_t *st = malloc(n * 2 * sizeof(int32_t));
    uint32_t *perm = malloc((size_t)ds->n * sizeof(uint32_t));
    if (!st || !perm) {
        free(st);
        free(perm);
        vsml_err("out of memory building %d streams of %d steps", n_streams, T);
        return -1;
    }
    for (int s = 0; s < n_streams; s++) {
        vsml_rng r;
        vsml_rng_init(&r, seed, (uint32_t)s, VSML_TAG_DATA);
        /* the examples of this stream: the whole set, or block s */
        int m = block > 0 ? block : ds->n, first = block > 0 ? s * block : 0;
        int pos = m;
        for (int t = 0; t < T; t++) {
            if (pos == m) { /* a fresh shuffle of the stream's examples */
                for (int i = 0; i < m; i++)
                    perm[i] = (uint32_t)(first + i);
                for (int i = m - 1; i > 0; i--) {
                    uint32_t j = vsml_rng_below(&r, (uint32_t)i + 1), tmp = perm[i];
                    perm[i] = perm[j];
                    perm[j] = tmp;
                }
                pos = 0;
            }
            uint32_t ex = perm[pos++];
            st[((size_t)s * T + t) * 2] = (int32_t)ex;
            st[((size_t)s * T + t) * 2 + 1] = ds->y[ex];
        }
    }
    free(perm);
    *stream = st;
    return 0;
}

int cli_default_params(char *path, size_t n)
{
    const char *env = getenv("VSML_DEFAULT_PARAMS");
    if (env && *env) {
        snprintf(path, n, "%s", env);
        return access(env, R_OK) == 0 ? 0 : -1;
    }
    const char *cands[] = {CLI_DEFAULT_PARAMS, VSML_SOURCE_ROOT "/" CLI_DEFAULT_PARAMS};
    for (size_t i = 0; i < VSML_ARRAY_SIZE(cands); i++)
        if (access(cands[i], R_OK) == 0) {
            snprintf(path, n, "%s", cands[i]);
            return 0;
        }
    snprintf(path, n, "%s", CLI_DEFAULT_PARAMS);
    return -1;
}

int cli_check_dataset_opts(const char *dataset, int synth_dim, const char *images,
                           const char *labels)
{
    const char *d = dataset ? dataset : "sumsign";
    if (synth_dim > 0 && strcmp(d, "sumsign") && strcmp(d, "random")) {
        vsml_err("--input-dim sets the size of the synthetic datasets (sumsign, random); "
                 "dataset %s has its own", d);
        return -1;
    }
    if ((images || labels) && strcmp(d, "idx")) {
        vsml_err("--images and --labels name the files of dataset idx, not of %s", d);
        return -1;
    }
    return 0;
}

int cli_check_out_file(const char *path, const char *option, bool force, const char *input,
                       const char *input_option)
{
    char dir[4096];
    struct stat sb, si;
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) || !*path) {
        vsml_err("%s: the path is empty or too long", option);
        return -1;
    }
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            vsml_err("cannot write %s (%s): it is a directory", path, option);
            return -1;
        }
        if (input && stat(input, &si) == 0 && si.st_dev == sb.st_dev && si.st_ino == sb.st_ino) {
            vsml_err("%s %s is the %s file: writing it would destroy the input", option, path,
                     input_option);
            return -1;
        }
        if (!force) {
            vsml_err("%s exists (%s): pass --force to replace it", path, option);
            return -1;
        }
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    const char *d = slash ? (*dir ? dir : "/") : ".";
    if (access(d, W_OK) != 0) {
        vsml_err("cannot write %s (%s): directory %s: %s", path, option, d, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_parse_kernel(const char *s, int *kernel)
{
    static const char *names[] = {"auto", "parallel", "serial", "cpu"};
    _Static_assert(VSML_KERNEL_AUTO == 0 && VSML_KERNEL_PARALLEL == 1 &&
                       VSML_KERNEL_SERIAL == 2 && VSML_KERNEL_CPU == 3,
                   "names[] follows enum vsml_kernel");
    if (!s) {
        *kernel = VSML_KERNEL_AUTO;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *kernel = i;
            return 0;
        }
    vsml_err("--kernel must be auto, parallel, serial or cpu, not '%s'", s);
    return -1;
}
