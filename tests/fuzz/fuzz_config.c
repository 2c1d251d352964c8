/* Training configurations: the key = value parser on the bytes, each line
 * again as a --set, the cross-field checks; and the resolved text must parse
 * back to itself (what resume relies on: config.cfg of the run directory). */
#include <string.h>

#include "fuzz_common.h"
#include "vsml/es.h"

#define ERRS 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    static char errs[ERRS];
    errs[0] = 0;
    vsml_train_config c;
    vsml_train_config_default(&c);
    int n = vsml_train_config_parse(&c, text, "fuzz", errs, ERRS);
    if ((n > 0) != (errs[0] != 0))
        abort();
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        vsml_train_config_set(&c, line, errs, ERRS);
    }
    vsml_train_config_validate(&c, errs, ERRS);
    if (strlen(errs) >= ERRS)
        abort();
    char *out = vsml_train_config_format(&c);
    if (!out)
        abort();
    vsml_train_config back;
    vsml_train_config_default(&back);
    errs[0] = 0;
    if (vsml_train_config_parse(&back, out, "resolved", errs, ERRS) != 0) {
        fprintf(stderr, "the resolved configuration does not parse:\n%s\n%s\n", out, errs);
        abort();
    }
    char *again = vsml_train_config_format(&back);
    if (!again || strcmp(out, again) != 0 ||
        vsml_train_config_hash(&c) != vsml_train_config_hash(&back)) {
        fprintf(stderr, "the resolved configuration does not round-trip:\n%s\n", out);
        abort();
    }
    free(again);
    free(out);
    free(text);
    return 0;
}
