/* Philox4x32-10 known-answer vectors from Random123's kat_vectors, and the
 * samplers built on it. */
#include <string.h>

#include "test.h"
#include "vsml/rng.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3)
{
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
    vsml_philox4x32(ctr, key, out);
    CHECK(out[0] == e0 && out[1] == e1 && out[2] == e2 && out[3] == e3,
          "got %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
}

int main(void)
{
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
        0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
        0x94fdcceb, 0x5001e420, 0x24126ea1);

    /* u01 is strictly inside (0, 1). */
    CHECK(vsml_u01(0) > 0.0f && vsml_u01(0xffffffffu) < 1.0f, "u01 bounds");

    /* erfinv inverts erf to single precision across the range we use. */
    for (double x = -0.95; x <= 0.95; x += 0.01) {
        double y = vsml_erfinvf((float)x);
        CHECK_NEAR(erf(y), x, 2e-6);
    }

    /* The truncated normal: within [-2, 2], mean 0, variance of N(0,1)
     * truncated at 2 std = 1 - 2*2*phi(2)/(Phi(2)-Phi(-2)) = 0.773741. */
    double s = 0, s2 = 0;
    int n = 200000;
    float lo = 0, hi = 0;
    for (int i = 0; i < n; i++) {
        uint32_t ctr[4] = {(uint32_t)i, 0, 0, 1}, key[2] = {7, 0}, out[4];
        vsml_philox4x32(ctr, key, out);
        float z = vsml_trunc_normal2(out[0]);
        lo = z < lo ? z : lo;
        hi = z > hi ? z : hi;
        s += z;
        s2 += (double)z * z;
    }
    CHECK(lo >= -2.0f && hi <= 2.0f && lo < -1.99f && hi > 1.99f, "range [%g, %g]", lo, hi);
    CHECK_NEAR(s / n, 0.0, 0.01);
    CHECK_NEAR(s2 / n, 0.773741, 0.01);

    /* Host streams: reproducible, distinct per seed and stream. */
    vsml_rng a, b, c;
    vsml_rng_init(&a, 42, 1, VSML_TAG_DATA);
    vsml_rng_init(&b, 42, 1, VSML_TAG_DATA);
    vsml_rng_init(&c, 42, 2, VSML_TAG_DATA);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = vsml_rng_u32(&a), y = vsml_rng_u32(&b), z = vsml_rng_u32(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same && diff > 95, "same %d diff %d", same, diff);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++)
        counts[vsml_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++)
        CHECK(counts[i] > 9400 && counts[i] < 10600, "bucket %d: %d", i, counts[i]);
    TEST_END();
}
