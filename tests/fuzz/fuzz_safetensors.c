/* safetensors files (parameters, checkpoints, rollouts): the parser, then the
 * parameter-file checks for a one-layer and a per-layer three-layer model. */
#include <string.h>

#include "fuzz_common.h"
#include "vsml/model.h"
#include "vsml/safetensors.h"

static volatile uint8_t fuzz_sink;

static void check_params(const vsml_st *st, int n_layers, const int *sizes, bool per_layer)
{
    vsml_model_config cfg;
    vsml_model_opts mo = {.micro_ticks = 2, .per_layer_params = per_layer};
    if (vsml_model_config_make(&cfg, n_layers, sizes, &mo) != 0)
        abort();
    float *p = NULL;
    int rc = vsml_params_from_st(st, "fuzz", &cfg, &p);
    fuzz_check(rc, "vsml_params_from_st");
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin();
    vsml_st st;
    int rc = vsml_st_parse(data, size, "fuzz", &st);
    fuzz_check(rc, "vsml_st_parse");
    if (rc != 0)
        return 0;
    for (int i = 0; i < st.n_tensors; i++) {
        const vsml_tensor *t = &st.tensors[i];
        size_t n = vsml_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d];
        if (n != t->nbytes || vsml_st_find(&st, t->name) == NULL ||
            memchr(t->name, 0, sizeof(t->name)) == NULL)
            abort();
        uint8_t sum = 0; /* every byte is readable */
        for (size_t b = 0; b < t->nbytes; b++)
            sum = (uint8_t)(sum + ((const uint8_t *)t->data)[b]);
        fuzz_sink = sum;
    }
    for (int i = 0; i < st.n_meta; i++)
        if (vsml_st_get_meta(&st, st.meta[i].key) == NULL)
            abort();
    static const int one[] = {8, 2}, three[] = {4, 3, 3, 2};
    check_params(&st, 1, one, false);
    check_params(&st, 3, three, true);
    vsml_st_free(&st);
    return 0;
}
