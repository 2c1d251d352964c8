/* Shared by the fuzz targets: the library's log goes to a counter instead of
 * stderr, and every target checks the logging contract of log.h: a parser
 * that fails reports at least one error, one that succeeds reports none. */
#ifndef VSML_FUZZ_COMMON_H
#define VSML_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vsml/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_errors;

static void fuzz_log(void *user, enum vsml_log_level level, const char *msg)
{
    (void)user;
    (void)msg;
    if (level == VSML_LOG_ERROR)
        fuzz_errors++;
}

static inline void fuzz_begin(void)
{
    vsml_log_set_callback(fuzz_log, NULL);
    fuzz_errors = 0;
}

/* rc != 0 must come with an error message, rc == 0 without one. */
static inline void fuzz_check(int rc, const char *what)
{
    if ((rc != 0) != (fuzz_errors > 0)) {
        fprintf(stderr, "%s returned %d after %d error message(s)\n", what, rc, fuzz_errors);
        abort();
    }
    fuzz_errors = 0;
}
#endif
