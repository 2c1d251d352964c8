#version 450
// vsml-vk viz: draws one frame (probability strip, input image, accuracy
// curves, colour bar) and composites the text overlay. Two pipelines from
// this file (specialization constant MODE): MODE 0 computes the softmax and
// argmax of every strip column once (one invocation per column and strip),
// MODE 1 draws (one invocation per pixel). The frame layout is described in
// include/vsml/viz_iface.h.
#extension GL_GOOGLE_include_directive : require
#include "vsml/viz_iface.h"

layout(local_size_x = VIZ_WG, local_size_y = VIZ_WG, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) readonly buffer Frame { uint fr[]; };
layout(std430, binding = 2) readonly buffer Overlay { uint overlay[]; };
layout(std430, binding = 3) writeonly buffer Pixels { uint pix[]; };
// per strip and column: C probabilities, then the argmax (as a float)
layout(std430, binding = 4) buffer Cells { float cells[]; };
layout(constant_id = 0) const uint MODE = 1;
// what every pixel needs, as push constants (uniform for every invocation);
// the same values as in the frame header (struct viz_pc in render.c)
layout(push_constant) uniform PC {
    uint W, H, C, t_now, n_strips, swap_rb;
    uint img_wh;      // width | height << 16
    uint img_c_curves; // channels | curves << 16
    ivec4 rects[VIZ_MAX_STRIPS + 3]; // strips, image, plot, colour bar
    float chance;
    uint off_img, off_curve, pad;
} pc;

const vec3 BACKGROUND = vec3(1.0);
const vec3 EMPTY = vec3(0.92);
const vec3 SQUARE = vec3(0.95, 0.15, 0.10);
const vec3 RING = vec3(0.0);
const vec3 CURVE0 = vec3(0.122, 0.467, 0.706);
const vec3 CURVE1 = vec3(1.0, 0.498, 0.055);

// viridis, polynomial fit; the host's viz_colormap (src/viz/render.c) is the same
vec3 viridis(float t)
{
    const vec3 c0 = vec3(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    const vec3 c1 = vec3(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    const vec3 c2 = vec3(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    const vec3 c3 = vec3(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    const vec3 c4 = vec3(6.228269936347081, 14.17993336680509, 56.69055260068105);
    const vec3 c5 = vec3(4.776384997670288, -13.74514537774601, -65.35303263337234);
    const vec3 c6 = vec3(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    t = clamp(t, 0.0, 1.0);
    return clamp(c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6))))), 0.0, 1.0);
}

bool inside(ivec2 p, ivec4 r)
{
    return p.x >= r.x && p.y >= r.y && p.x < r.z && p.y < r.w;
}

float fget(uint i)
{
    return uintBitsToFloat(fr[i]);
}

float output_of(uint s, uint t, uint c, uint C)
{
    if (s == 0u)
        return logits[(t - fr[VIZ_H_LOGITS_T0]) * C + c];
    return fget(fr[VIZ_H_OFF_RING] + (t % VIZ_STEPS) * C + c);
}

// a / b for 0 <= a, 0 < b < 2^24 / 100: float division (2.5 ulp in Vulkan)
// cannot cross an integer there, and it is far cheaper than integer
// division on SIMD CPUs (llvmpipe), where that goes lane by lane
int idiv(int a, int b)
{
    return int(float(a) / float(b));
}

// start of cell i of n cells over length len: pixels x with floor(x * n / len) == i
int cell_start(int i, int n, int len)
{
    return idiv(i * len + n - 1, n);
}

uint t_first()
{
    uint t_now = pc.t_now;
    return t_now > uint(VIZ_STEPS) ? t_now - uint(VIZ_STEPS) : 0u;
}

// MODE 0: softmax and argmax of column i of strip s
void column(uint i, uint s)
{
    uint C = pc.C, t = t_first() + i;
    if (i >= uint(VIZ_STEPS) || s >= pc.n_strips || t >= pc.t_now)
        return;
    float mx = output_of(s, t, 0u, C);
    uint arg = 0u;
    for (uint c = 1u; c < C; c++) {
        float v = output_of(s, t, c, C);
        if (v > mx) {
            mx = v;
            arg = c;
        }
    }
    float sum = 0.0;
    for (uint c = 0u; c < C; c++)
        sum += exp(output_of(s, t, c, C) - mx);
    uint base = (s * uint(VIZ_STEPS) + i) * (C + 1u);
    for (uint c = 0u; c < C; c++)
        cells[base + c] = exp(output_of(s, t, c, C) - mx) / sum;
    cells[base + C] = float(arg);
}

vec3 strip_pixel(uint s, ivec2 p, ivec4 r)
{
    uint C = pc.C;
    int w = r.z - r.x, h = r.w - r.y;
    int col = idiv((p.x - r.x) * VIZ_STEPS, w), row = idiv((p.y - r.y) * int(C), h);
    uint t = t_first() + uint(col);
    if (t >= pc.t_now)
        return EMPTY;
    uint base = (s * uint(VIZ_STEPS) + uint(col)) * (C + 1u);
    float prob = cells[base + uint(row)];
    uint arg = uint(cells[base + C]);
    vec3 colour = viridis(prob);
    int x0 = cell_start(col, VIZ_STEPS, w), x1 = cell_start(col + 1, VIZ_STEPS, w);
    int y0 = cell_start(row, int(C), h), y1 = cell_start(row + 1, int(C), h);
    int cw = x1 - x0, ch = y1 - y0, m = min(cw, ch);
    vec2 l = vec2(p - r.xy - ivec2(x0, y0)) + 0.5;
    if (uint(row) == arg && m >= 5) {
        float d = length(l - vec2(cw, ch) * 0.5), rad = 0.3 * float(m);
        if (abs(d - rad) < max(0.75, float(m) / 14.0))
            colour = RING;
    }
    // the square: outline of a centred square of side 0.9 m (viz_square_marker)
    int label = int(fr[VIZ_H_SIZE + t % VIZ_STEPS]); // labels follow the header
    int side = max(3, int(0.9 * float(m))), th = max(1, m / 8);
    int lx = int(l.x) - (cw - side) / 2, ly = int(l.y) - (ch - side) / 2;
    if (row == label && lx >= 0 && ly >= 0 && lx < side && ly < side &&
        (lx < th || ly < th || lx >= side - th || ly >= side - th))
        colour = SQUARE;
    return colour;
}

vec3 image_pixel(ivec2 p, ivec4 r)
{
    int iw = int(pc.img_wh & 0xffffu), ih = int(pc.img_wh >> 16);
    int ic = int(pc.img_c_curves & 0xffffu);
    int x = idiv((p.x - r.x) * iw, r.z - r.x), y = idiv((p.y - r.y) * ih, r.w - r.y);
    uint base = pc.off_img + uint(y * iw + x);
    if (ic < 3)
        return vec3(fget(base));
    uint plane = uint(iw * ih);
    return vec3(fget(base), fget(base + plane), fget(base + 2u * plane));
}

float curve_y(float v, ivec4 r)
{
    return float(r.w - 1) - v * float(r.w - 1 - r.y);
}

vec3 plot_pixel(ivec2 p, ivec4 r)
{
    vec3 colour = BACKGROUND;
    int h = r.w - r.y;
    for (int k = 0; k <= 4; k++) // grid at 0, 0.25, ..., 1
        if (p.y == int(round(curve_y(float(k) * 0.25, r))))
            colour = vec3(0.85);
    if (p.y == int(round(curve_y(pc.chance, r))) && (p.x / 4) % 2 == 0)
        colour = vec3(0.55);
    if (p.x == r.x || p.x == r.z - 1 || p.y == r.y || p.y == r.w - 1)
        colour = vec3(0.3);
    uint n = uint(r.z - r.x), nc = pc.img_c_curves >> 16; // a value per plot column
    int i = p.x - r.x;
    for (uint k = 0u; k < nc; k++) {
        uint base = pc.off_curve + k * n;
        float v = fget(base + uint(i)), u = fget(base + uint(max(i - 1, 0)));
        if (v < 0.0)
            continue;
        if (u < 0.0)
            u = v;
        float a = curve_y(v, r), b = curve_y(u, r);
        if (float(p.y) >= min(a, b) - 1.0 && float(p.y) <= max(a, b) + 1.0)
            colour = k == 0u ? CURVE0 : CURVE1;
    }
    return colour;
}

void main()
{
    if (MODE == 0u) {
        column(gl_GlobalInvocationID.x, gl_GlobalInvocationID.y);
        return;
    }
    uint W = pc.W, H = pc.H;
    ivec2 p = ivec2(gl_GlobalInvocationID.xy);
    if (p.x >= int(W) || p.y >= int(H))
        return;
    vec3 colour = BACKGROUND;
    for (uint s = 0u; s < pc.n_strips; s++) {
        ivec4 r = pc.rects[s];
        if (inside(p, r))
            colour = strip_pixel(s, p, r);
    }
    ivec4 r = pc.rects[VIZ_MAX_STRIPS];
    if (inside(p, r))
        colour = image_pixel(p, r);
    r = pc.rects[VIZ_MAX_STRIPS + 1];
    if (inside(p, r))
        colour = plot_pixel(p, r);
    r = pc.rects[VIZ_MAX_STRIPS + 2];
    if (inside(p, r))
        colour = viridis(float(r.w - 1 - p.y) / float(max(r.w - r.y - 1, 1)));
    uint o = overlay[uint(p.y) * W + uint(p.x)]; // cairo ARGB32, premultiplied
    float a = float(o >> 24) / 255.0;
    vec3 oc = vec3(float((o >> 16) & 255u), float((o >> 8) & 255u), float(o & 255u)) / 255.0;
    colour = oc + colour * (1.0 - a);
    uvec3 c8 = uvec3(round(clamp(colour, 0.0, 1.0) * 255.0));
    uint px = pc.swap_rb != 0u ? (c8.r | (c8.g << 8) | (c8.b << 16))
                                      : (c8.b | (c8.g << 8) | (c8.r << 16));
    pix[uint(p.y) * W + uint(p.x)] = px | 0xff000000u;
}
