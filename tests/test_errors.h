/* Capturing the library's error messages in tests: every bad input must
 * fail with exactly one error that names what was wrong. Install with
 * vsml_log_set_callback(capture, NULL). */
#ifndef VSML_TEST_ERRORS_H
#define VSML_TEST_ERRORS_H

#include <stdio.h>
#include <string.h>

#include "test.h"
#include "vsml/log.h"

static int n_errors;
static char last_error[2048];

static inline void capture(void *user, enum vsml_log_level level, const char *msg)
{
    (void)user;
    if (level == VSML_LOG_ERROR) {
        n_errors++;
        snprintf(last_error, sizeof(last_error), "%s", msg);
    }
}

static inline void begin_fail_check(void)
{
    n_errors = 0;
    last_error[0] = '\0';
}

/* A call expected to fail: non-zero, exactly one error, naming `needle`. */
static inline void end_fail_check(int rc, const char *needle, const char *label)
{
    CHECK(rc != 0, "%s: accepted", label);
    CHECK(n_errors == 1, "%s: %d errors logged", label, n_errors);
    CHECK(strstr(last_error, needle) != NULL, "%s: error '%s' does not name %s", label,
          last_error, needle);
    if (rc != 0)
        fprintf(stderr, "  rejected %-28s %s\n", label, last_error);
}

#endif
