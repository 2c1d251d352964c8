// Numerics shared by the VSML shaders. tanh is written out because some
// drivers evaluate the builtin as (e^2x - 1) / (e^2x + 1), which is NaN for
// large |x|.
#ifndef VSML_COMMON_GLSL
#define VSML_COMMON_GLSL

float safe_tanh(float x)
{
    float t = exp(-2.0 * abs(x));
    float r = (1.0 - t) / (1.0 + t);
    return x < 0.0 ? -r : r;
}

float sigmoid(float x)
{
    return 1.0 / (1.0 + exp(-x));
}

vec4 safe_tanh(vec4 x)
{
    vec4 t = exp(-2.0 * abs(x));
    vec4 r = (1.0 - t) / (1.0 + t);
    return mix(r, -r, lessThan(x, vec4(0.0)));
}

vec4 sigmoid(vec4 x)
{
    return 1.0 / (1.0 + exp(-x));
}

#endif
