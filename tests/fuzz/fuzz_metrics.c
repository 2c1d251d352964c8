/* The metrics.jsonl reader of --resume: keeps complete lines of steps <= S. */
#include <string.h>

#include "fuzz_common.h"
#include "vsml/es.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin();
    if (size < 1)
        return 0;
    long step = data[0] * 37L; /* the first byte picks the resume step */
    char *text = malloc(size - 1 ? size - 1 : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    size_t len = vsml_metrics_keep_steps(text, size - 1, step);
    if (len > size - 1 || (len > 0 && text[len - 1] != '\n'))
        abort();
    /* idempotent: the kept lines are all kept again */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, text, len);
    if (vsml_metrics_keep_steps(copy, len, step) != len || memcmp(copy, text, len) != 0)
        abort();
    free(copy);
    free(text);
    return 0;
}
