/* Test helper for test_eval_cli.sh: writes a fresh parameter file for the
 * given layer sizes, usage: test_eval_mkparams OUT SIZES [per-layer]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/model.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT SIZES [per-layer]\n", argv[0]);
        return 2;
    }
    int sizes[VSML_MAX_LAYERS + 1], n = 0;
    for (char *p = argv[2]; *p && n <= VSML_MAX_LAYERS; n++) {
        sizes[n] = (int)strtol(p, &p, 10);
        if (*p == ',')
            p++;
    }
    vsml_model_config cfg;
    vsml_model_config_default(&cfg, n - 1, sizes);
    cfg.per_layer_params = argc > 3 && !strcmp(argv[3], "per-layer");
    if (vsml_model_config_check(&cfg) != 0)
        return 1;
    float *p = malloc(vsml_param_count(&cfg) * sizeof(float));
    if (!p)
        return 1;
    vsml_params_init(&cfg, 1, p);
    int rc = vsml_params_save(argv[1], &cfg, p, 0, NULL);
    free(p);
    return rc ? 1 : 0;
}
