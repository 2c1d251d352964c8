// Philox4x32-10 and the derived samplers; mirrors src/common/rng.c exactly.
#ifndef VSML_PHILOX_GLSL
#define VSML_PHILOX_GLSL

uvec4 philox4x32(uvec4 c, uvec2 k)
{
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

float u01(uint x)
{
    return float(x >> 9) * (1.0 / 8388608.0) + (0.5 / 8388608.0);
}

float erfinv_giles(float x)
{
    float w = -log((1.0 - x) * (1.0 + x));
    float p;
    if (w < 5.0) {
        w = w - 2.5;
        p = 2.81022636e-08;
        p = 3.43273939e-07 + p * w;
        p = -3.5233877e-06 + p * w;
        p = -4.39150654e-06 + p * w;
        p = 0.00021858087 + p * w;
        p = -0.00125372503 + p * w;
        p = -0.00417768164 + p * w;
        p = 0.246640727 + p * w;
        p = 1.50140941 + p * w;
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = 0.000100950558 + p * w;
        p = 0.00134934322 + p * w;
        p = -0.00367342844 + p * w;
        p = 0.00573950773 + p * w;
        p = -0.0076224613 + p * w;
        p = 0.00943887047 + p * w;
        p = 1.00167406 + p * w;
        p = 2.83297682 + p * w;
    }
    return p * x;
}

// N(0, 1) truncated to [-2, 2] by inverse CDF (see vsml_trunc_normal2).
float trunc_normal2(uint bits)
{
    float v = (2.0 * u01(bits) - 1.0) * 0.954499736103642;
    return 1.41421356237 * erfinv_giles(v);
}

// Box-Muller on two words of a Philox block (vsml_es_noise in rng.c is the
// same formula).
float box_muller(uvec2 w)
{
    float u1 = u01(w.x), u2 = u01(w.y);
    return sqrt(-2.0 * log(u1)) * cos(6.28318530718 * u2);
}

#endif
