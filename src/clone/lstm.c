/* One sub-LSTM tick (spec section 3) for any state size N, in double
 * precision, and its gradient derived by hand: the building block of
 * learning-algorithm cloning (include/vsml/clone.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/clone.h"

void vsml_clone_layout_make(int N, vsml_clone_layout *L)
{
    L->N = N;
    L->M = 8;
    L->G = 4 * N;
    L->rows = 2 * L->M + N;
    L->w_lstm = 0;
    L->b_lstm = (size_t)L->rows * L->G;
    L->w_fwd = L->b_lstm + L->G;
    L->b_fwd = L->w_fwd + (size_t)N * L->M;
    L->w_bwd = L->b_fwd + L->M;
    L->b_bwd = L->w_bwd + (size_t)N * L->M;
    L->total = L->b_bwd + L->M;
}

int vsml_clone_tick_alloc(vsml_clone_tick *t, int N, int M)
{
    memset(t, 0, sizeof(*t));
    t->in = calloc((size_t)(2 * M + N), sizeof(double));
    t->c_prev = calloc((size_t)N * 8, sizeof(double));
    t->clipped = calloc((size_t)N, 1);
    if (!t->in || !t->c_prev || !t->clipped) {
        vsml_clone_tick_free(t);
        return -1;
    }
    t->gi = t->c_prev + N;
    t->gg = t->gi + N;
    t->gf = t->gg + N;
    t->go = t->gf + N;
    t->tc = t->go + N;
    t->c = t->tc + N;
    t->h = t->c + N;
    return 0;
}

void vsml_clone_tick_free(vsml_clone_tick *t)
{
    free(t->in);
    free(t->c_prev);
    free(t->clipped);
    memset(t, 0, sizeof(*t));
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

void vsml_clone_tick_fwd(const vsml_clone_layout *L, const double *p, const double *fin,
                         const double *bin, const double *h_prev, const double *c_prev,
                         double clip, vsml_clone_tick *t)
{
    int N = L->N, M = L->M, G = L->G, R = L->rows;
    memcpy(t->in, fin, sizeof(double) * M);
    memcpy(t->in + M, bin, sizeof(double) * M);
    memcpy(t->in + 2 * M, h_prev, sizeof(double) * N);
    memcpy(t->c_prev, c_prev, sizeof(double) * N);
    double z[4 * 256];
    double *zz = G <= 4 * 256 ? z : malloc(sizeof(double) * G);
    if (!zz)
        abort();
    memcpy(zz, p + L->b_lstm, sizeof(double) * G);
    for (int r = 0; r < R; r++) {
        double v = t->in[r];
        if (v == 0.0)
            continue;
        const double *w = p + L->w_lstm + (size_t)r * G;
        for (int g = 0; g < G; g++)
            zz[g] += v * w[g];
    }
    for (int j = 0; j < N; j++) {
        double i = sigm(zz[j] - 5.0), g = tanh(zz[N + j]);
        double f = sigm(zz[2 * N + j] + 5.0), o = sigm(zz[3 * N + j]);
        double c = f * c_prev[j] + i * g;
        unsigned char cl = 0;
        if (clip > 0.0 && (c < -clip || c > clip)) {
            c = c < 0 ? -clip : clip;
            cl = 1;
        }
        t->gi[j] = i;
        t->gg[j] = g;
        t->gf[j] = f;
        t->go[j] = o;
        t->c[j] = c;
        t->tc[j] = tanh(c);
        t->h[j] = o * t->tc[j];
        t->clipped[j] = cl;
    }
    if (zz != z)
        free(zz);
}

void vsml_clone_tick_bwd(const vsml_clone_layout *L, const double *p, const vsml_clone_tick *t,
                         const double *dh, const double *dc, double *gp, double *dfin,
                         double *dbin, double *dh_prev, double *dc_prev)
{
    int N = L->N, M = L->M, G = L->G, R = L->rows;
    double dz_buf[4 * 256];
    double *dz = G <= 4 * 256 ? dz_buf : malloc(sizeof(double) * G);
    if (!dz)
        abort();
    for (int j = 0; j < N; j++) {
        double o = t->go[j], tc = t->tc[j], i = t->gi[j], g = t->gg[j], f = t->gf[j];
        double dcj = dc[j] + dh[j] * o * (1.0 - tc * tc);
        if (t->clipped[j])
            dcj = 0.0;
        dz[3 * N + j] = dh[j] * tc * o * (1.0 - o);
        dz[2 * N + j] = dcj * t->c_prev[j] * f * (1.0 - f);
        dz[j] = dcj * g * i * (1.0 - i);
        dz[N + j] = dcj * i * (1.0 - g * g);
        dc_prev[j] = dcj * f;
    }
    double *gb = gp + L->b_lstm;
    for (int g = 0; g < G; g++)
        gb[g] += dz[g];
    for (int r = 0; r < R; r++) {
        const double *w = p + L->w_lstm + (size_t)r * G;
        double *gw = gp + L->w_lstm + (size_t)r * G;
        double v = t->in[r], s = 0.0;
        if (v != 0.0)
            for (int g = 0; g < G; g++) {
                gw[g] += v * dz[g];
                s += w[g] * dz[g];
            }
        else
            for (int g = 0; g < G; g++)
                s += w[g] * dz[g];
        if (r < M) {
            if (dfin)
                dfin[r] = s;
        } else if (r < 2 * M) {
            if (dbin)
                dbin[r - M] = s;
        } else {
            dh_prev[r - 2 * M] = s;
        }
    }
    if (dz != dz_buf)
        free(dz);
}

void vsml_clone_head_fwd(const vsml_clone_layout *L, const double *p, size_t off_w,
                         size_t off_b, const double *h, double *msg)
{
    int N = L->N, M = L->M;
    for (int m = 0; m < M; m++)
        msg[m] = p[off_b + m];
    for (int j = 0; j < N; j++)
        for (int m = 0; m < M; m++)
            msg[m] += h[j] * p[off_w + (size_t)j * M + m];
}

void vsml_clone_head_bwd(const vsml_clone_layout *L, const double *p, size_t off_w,
                         const double *h, const double *dmsg, double *gp, double *dh)
{
    int N = L->N, M = L->M;
    size_t off_b = off_w + (size_t)N * M;
    for (int m = 0; m < M; m++)
        gp[off_b + m] += dmsg[m];
    for (int j = 0; j < N; j++) {
        double s = 0.0;
        for (int m = 0; m < M; m++) {
            gp[off_w + (size_t)j * M + m] += h[j] * dmsg[m];
            s += p[off_w + (size_t)j * M + m] * dmsg[m];
        }
        dh[j] += s;
    }
}
