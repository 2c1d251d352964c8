/* Minimal test harness: CHECK records a failure with file/line and goes on;
 * TEST_END returns 1 if anything failed. Exit code 77 means "skipped" to
 * meson (used only when no Vulkan device exists at all). */
#ifndef VSML_TEST_H
#define VSML_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_worst.h"

static int test_failures;
static int test_checks;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        test_checks++;                                                            \
        if (!(cond)) {                                                            \
            test_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fprintf(stderr, "\n");                                                \
        }                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                     \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, %s = %.9g, tol %.3g", \
          #a, (double)(a), #b, (double)(b), (double)(tol))

#define TEST_END()                                                                \
    do {                                                                          \
        fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);    \
        return test_failures ? 1 : 0;                                             \
    } while (0)

#define TEST_SKIP 77

#endif
