#include <math.h>

#include "vsml/rng.h"

void vsml_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

float vsml_u01(uint32_t x)
{
    return (float)(x >> 9) * (1.0f / 8388608.0f) + (0.5f / 8388608.0f);
}

float vsml_erfinvf(float x)
{
    float w = -logf((1.0f - x) * (1.0f + x));
    float p;
    if (w < 5.0f) {
        w = w - 2.5f;
        p = 2.81022636e-08f;
        p = 3.43273939e-07f + p * w;
        p = -3.5233877e-06f + p * w;
        p = -4.39150654e-06f + p * w;
        p = 0.00021858087f + p * w;
        p = -0.00125372503f + p * w;
        p = -0.00417768164f + p * w;
        p = 0.246640727f + p * w;
        p = 1.50140941f + p * w;
    } else {
        w = sqrtf(w) - 3.0f;
        p = -0.000200214257f;
        p = 0.000100950558f + p * w;
        p = 0.00134934322f + p * w;
        p = -0.00367342844f + p * w;
        p = 0.00573950773f + p * w;
        p = -0.0076224613f + p * w;
        p = 0.00943887047f + p * w;
        p = 1.00167406f + p * w;
        p = 2.83297682f + p * w;
    }
    return p * x;
}

/* erf(2 / sqrt(2)) = P(|Z| < 2) */
#define VSML_ERF_SQRT2 0.954499736103642f

float vsml_trunc_normal2(uint32_t bits)
{
    float u = vsml_u01(bits);
    float v = (2.0f * u - 1.0f) * VSML_ERF_SQRT2;
    return 1.41421356237f * vsml_erfinvf(v);
}

/* Box-Muller on two words of a Philox block (spec section 6's noise). */
static float box_muller(uint32_t a, uint32_t b)
{
    float u1 = vsml_u01(a), u2 = vsml_u01(b);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

static void noise_block(uint64_t seed, uint32_t step, uint32_t pair, uint32_t i2, uint32_t r[4])
{
    uint32_t ctr[4] = {i2, pair, step, VSML_TAG_NOISE};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vsml_philox4x32(ctr, key, r);
}

float vsml_es_noise(uint64_t seed, uint32_t step, uint32_t pair, uint32_t i)
{
    uint32_t r[4];
    noise_block(seed, step, pair, i >> 1, r);
    return (i & 1) ? box_muller(r[2], r[3]) : box_muller(r[0], r[1]);
}

void vsml_es_noise2(uint64_t seed, uint32_t step, uint32_t pair, uint32_t i2, float out[2])
{
    uint32_t r[4];
    noise_block(seed, step, pair, i2, r);
    out[0] = box_muller(r[0], r[1]);
    out[1] = box_muller(r[2], r[3]);
}

void vsml_rng_init(vsml_rng *r, uint64_t seed, uint32_t stream, uint32_t tag)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = 0;
    r->ctr[2] = stream;
    r->ctr[3] = tag;
    r->pos = 4;
}

uint32_t vsml_rng_u32(vsml_rng *r)
{
    if (r->pos == 4) {
        vsml_philox4x32(r->ctr, r->key, r->buf);
        if (++r->ctr[0] == 0)
            r->ctr[1]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

double vsml_rng_uniform(vsml_rng *r)
{
    uint64_t a = vsml_rng_u32(r) >> 5, b = vsml_rng_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

uint32_t vsml_rng_below(vsml_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    uint32_t lim = (uint32_t)(-n) % n; /* 2^32 mod n */
    for (;;) {
        uint32_t x = vsml_rng_u32(r);
        if (x >= lim)
            return x % n;
    }
}

double vsml_rng_normal(vsml_rng *r)
{
    double u1;
    do
        u1 = vsml_rng_uniform(r);
    while (u1 <= 0.0);
    double u2 = vsml_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double vsml_rng_trunc_normal(vsml_rng *r)
{
    for (;;) {
        double z = vsml_rng_normal(r);
        if (fabs(z) <= 2.0)
            return z;
    }
}
