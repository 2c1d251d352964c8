/* IDX files, raw or gzip, through the reader vsml_idx_load uses:
 * vsml_gunzip_if_needed, then the image and the label parser. */
#include <string.h>

#include "fuzz_common.h"
#include "vsml/data.h"

/* Smaller than the loader's 4 GiB so that a gzip bomb stays within the
 * fuzzer's memory limit; the code path is the same. */
#define FUZZ_MAX_BYTES ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin();
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    size_t len = size;
    int rc = vsml_gunzip_if_needed(&buf, &len, FUZZ_MAX_BYTES, "fuzz");
    fuzz_check(rc, "vsml_gunzip_if_needed");
    if (rc == 0) {
        float *x = NULL;
        int n = 0, rows = 0, cols = 0;
        rc = vsml_idx_parse_images(buf, len, "fuzz", &x, &n, &rows, &cols);
        fuzz_check(rc, "vsml_idx_parse_images");
        if (rc == 0) {
            size_t total = (size_t)n * (size_t)rows * (size_t)cols;
            for (size_t i = 0; i < total; i++)
                if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                    abort();
        }
        free(x);
        int32_t *y = NULL;
        rc = vsml_idx_parse_labels(buf, len, "fuzz", &y, &n);
        fuzz_check(rc, "vsml_idx_parse_labels");
        for (int i = 0; rc == 0 && i < n; i++)
            if (y[i] < 0 || y[i] > 255)
                abort();
        free(y);
    }
    free(buf);
    return 0;
}
