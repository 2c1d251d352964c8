/* CIFAR-10 binary batches. */
#include "fuzz_common.h"
#include "vsml/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin();
    float *x = NULL;
    int32_t *y = NULL;
    int n = 0;
    int rc = vsml_cifar_parse(data, size, "fuzz", &x, &y, &n);
    fuzz_check(rc, "vsml_cifar_parse");
    for (int i = 0; rc == 0 && i < n; i++)
        if (y[i] < 0 || y[i] > 9 || !(x[(size_t)i * VSML_CIFAR_DIM] >= 0.0f))
            abort();
    free(x);
    free(y);
    return 0;
}
