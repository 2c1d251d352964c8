/* Theorem 1 (appendix A): the plain-RNN VSML update
 *   s_abj <- sigma(sum_i s_abi W_ij + sum_{c,i} s_cai C_ij)            (8)
 * equals a dense RNN over all states with the sparse, shared matrix
 *   W~_cdiabj = [d = a] C_ij + [d = b][c = a] W_ij                    (6, 14)
 *   s_abj <- sigma(sum_{c,d,i} s_cdi W~_cdiabj)                        (9)
 * Checked on random W, C and states, with W~ built entry by entry from the
 * case table of equation 6 (not from equation 14), for several sizes. */
#include <stdlib.h>

#include "test.h"
#include "vsml/rng.h"

static double case_table(int c, int d, int a, int b, double Cij, double Wij)
{
    if (d == a && (d != b || c != a))
        return Cij;
    if (d != a && d == b && c == a)
        return Wij;
    if (d == a && d == b && c == a)
        return Cij + Wij;
    return 0.0;
}

static void check_size(int A, int N, vsml_rng *r)
{
    /* states s[a][b][i] with a, b in [0, A) */
    size_t S = (size_t)A * A * N;
    double *s = malloc(S * sizeof(double)), *W = malloc(N * N * sizeof(double));
    double *Cm = malloc(N * N * sizeof(double)), *Wt = malloc(S * S * sizeof(double));
    for (size_t i = 0; i < S; i++)
        s[i] = vsml_rng_normal(r);
    for (int i = 0; i < N * N; i++) {
        W[i] = vsml_rng_normal(r) / N;
        Cm[i] = vsml_rng_normal(r) / N;
    }
#define IDX(a, b, i) (((size_t)(a) * A + (b)) * N + (i))
    /* dense matrix: rows (c,d,i), columns (a,b,j) */
    for (int c = 0; c < A; c++)
        for (int d = 0; d < A; d++)
            for (int i = 0; i < N; i++)
                for (int a = 0; a < A; a++)
                    for (int b = 0; b < A; b++)
                        for (int j = 0; j < N; j++)
                            Wt[IDX(c, d, i) * S + IDX(a, b, j)] =
                                case_table(c, d, a, b, Cm[i * N + j], W[i * N + j]);
    int nonzero = 0;
    double worst = 0;
    for (int a = 0; a < A; a++)
        for (int b = 0; b < A; b++)
            for (int j = 0; j < N; j++) {
                double v8 = 0, v9 = 0;
                for (int i = 0; i < N; i++) {
                    v8 += s[IDX(a, b, i)] * W[i * N + j];
                    for (int c = 0; c < A; c++)
                        v8 += s[IDX(c, a, i)] * Cm[i * N + j];
                }
                for (size_t q = 0; q < S; q++) {
                    v9 += s[q] * Wt[q * S + IDX(a, b, j)];
                    nonzero += Wt[q * S + IDX(a, b, j)] != 0.0;
                }
                double e = fabs(tanh(v8) - tanh(v9));
                worst = e > worst ? e : worst;
            }
    CHECK(worst < 1e-12, "A=%d N=%d: equations 8 and 9 differ by %g", A, N, worst);
    /* sparsity: each output (a,b,j) has at most A*N + N nonzero inputs */
    CHECK(nonzero <= A * A * N * (A * N + N), "A=%d N=%d: W~ is not sparse (%d)", A, N, nonzero);
    free(s);
    free(W);
    free(Cm);
    free(Wt);
}

int main(void)
{
    vsml_rng r;
    vsml_rng_init(&r, 3, 0, VSML_TAG_DATA);
    check_size(1, 3, &r);
    check_size(2, 2, &r);
    check_size(3, 4, &r);
    check_size(5, 3, &r);
    TEST_END();
}
