/* The running maximum of a test's errors, NaN-safe: fmax(worst, NaN) and
 * NaN > worst both keep the old worst, so a NaN result would pass a bound
 * check. Here a NaN error counts as an infinite one. */
#ifndef VSML_TEST_WORST_H
#define VSML_TEST_WORST_H

#include <math.h>

static inline double test_worst(double worst, double e)
{
    return e <= worst ? worst : isnan(e) ? INFINITY : e;
}

#endif
