/* Meta-test metrics on hand-made correctness sequences; every expected value
 * is derived by hand in the comments. */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "vsml/eval.h"

/* Two seeds, T = 20, window 8 (windows [0,8), [8,16), [16,20)).
 *   seed 0: 1 at t = 0..9, 0 at t = 10..19       -> 10 / 20 = 0.5 online
 *   seed 1: 1 at every odd t (1, 3, ..., 19)     -> 10 / 20 = 0.5 online
 * online: mean 0.5, std 0.
 * first 100 = first min(100, 20) = all 20 steps: same as online.
 * final: the last T / 10 = 2 steps (t = 18, 19):
 *   seed 0: 0 / 2 = 0; seed 1: t = 19 only -> 1 / 2 = 0.5
 *   mean 0.25, population std sqrt(((0 - .25)^2 + (.5 - .25)^2) / 2) = 0.25.
 * curve (3 windows):
 *   w0 [0,8):   seed 0: 8/8 = 1;   seed 1: odd t 1,3,5,7 = 4/8 = .5  -> mean .75,  std .25
 *   w1 [8,16):  seed 0: t 8,9 = 2/8 = .25; seed 1: 9,11,13,15 = .5  -> mean .375, std .125
 *   w2 [16,20): seed 0: 0/4 = 0;   seed 1: 17,19 = 2/4 = .5         -> mean .25,  std .25 */
static void two_seeds(void)
{
    enum { S = 2, T = 20 };
    uint8_t c[S * T];
    for (int t = 0; t < T; t++) {
        c[t] = t < 10;
        c[T + t] = t % 2;
    }
    vsml_metrics m;
    CHECK(vsml_metrics_compute(c, S, T, 8, &m) == 0, "compute");
    CHECK_NEAR(m.online.mean, 0.5, 1e-12);
    CHECK_NEAR(m.online.std, 0.0, 1e-12);
    CHECK_NEAR(m.first.mean, 0.5, 1e-12);
    CHECK_NEAR(m.final.mean, 0.25, 1e-12);
    CHECK_NEAR(m.final.std, 0.25, 1e-12);
    CHECK(m.n_windows == 3, "n_windows %d", m.n_windows);
    CHECK(m.window == 8, "window");
    const double mean[3] = {0.75, 0.375, 0.25}, sd[3] = {0.25, 0.125, 0.25};
    for (int w = 0; w < 3 && w < m.n_windows; w++) {
        CHECK_NEAR(m.curve[w].mean, mean[w], 1e-12);
        CHECK_NEAR(m.curve[w].std, sd[w], 1e-12);
    }
    vsml_metrics_free(&m);
}

/* Three seeds, T = 250, window 100 (windows [0,100), [100,200), [200,250)).
 *   seed 0: correct iff t >= 50                 online 200/250 = 0.8
 *   seed 1: correct iff t >= 150                online 100/250 = 0.4
 *   seed 2: never correct                       online 0
 * online: mean (0.8 + 0.4 + 0) / 3 = 0.4;
 *         std sqrt((0.16 + 0 + 0.16) / 3) = sqrt(0.32 / 3) = 0.326598632...
 * first 100: seed 0: 50/100 = .5, seed 1: 0, seed 2: 0 -> mean 1/6,
 *         std sqrt(((1/3)^2 + 2 (1/6)^2) / 3) = sqrt((1/9 + 1/18) / 3) = sqrt(1/18) = 0.235702260...
 * final: last 25 steps [225, 250): seeds 0, 1 all correct, seed 2 none
 *         -> mean 2/3, std sqrt(((1/3)^2 * 2 + (2/3)^2) / 3) = sqrt(6/27) = 0.471404520...
 * curve: w0: .5, 0, 0 -> 1/6 (std 0.2357...); w1: 1, .5, 0 -> .5 (std sqrt(1/6) = 0.408248290...);
 *        w2 [200,250): 1, 1, 0 -> 2/3 (std 0.4714...) */
static void three_seeds(void)
{
    enum { S = 3, T = 250 };
    static uint8_t c[S * T];
    for (int t = 0; t < T; t++) {
        c[t] = t >= 50;
        c[T + t] = t >= 150;
        c[2 * T + t] = 0;
    }
    vsml_metrics m;
    CHECK(vsml_metrics_compute(c, S, T, 100, &m) == 0, "compute");
    CHECK_NEAR(m.online.mean, 0.4, 1e-12);
    CHECK_NEAR(m.online.std, 0.326598632371, 1e-9);
    CHECK_NEAR(m.first.mean, 1.0 / 6, 1e-12);
    CHECK_NEAR(m.first.std, 0.235702260396, 1e-9);
    CHECK_NEAR(m.final.mean, 2.0 / 3, 1e-12);
    CHECK_NEAR(m.final.std, 0.471404520791, 1e-9);
    CHECK(m.n_windows == 3, "n_windows %d", m.n_windows);
    if (m.n_windows == 3) {
        CHECK_NEAR(m.curve[0].mean, 1.0 / 6, 1e-12);
        CHECK_NEAR(m.curve[1].mean, 0.5, 1e-12);
        CHECK_NEAR(m.curve[1].std, 0.408248290464, 1e-9);
        CHECK_NEAR(m.curve[2].mean, 2.0 / 3, 1e-12);
    }
    vsml_metrics_free(&m);
}

/* Short episodes: T = 5 < 100 and T / 10 = 0 -> first covers all 5 steps and
 * final the last step only. Sequence 0 1 1 0 1: online 3/5 = .6, final 1.
 * Window 10 > T: one window equal to online. */
static void short_episode(void)
{
    const uint8_t c[5] = {0, 1, 1, 0, 1};
    vsml_metrics m;
    CHECK(vsml_metrics_compute(c, 1, 5, 10, &m) == 0, "compute");
    CHECK_NEAR(m.online.mean, 0.6, 1e-12);
    CHECK_NEAR(m.first.mean, 0.6, 1e-12);
    CHECK_NEAR(m.final.mean, 1.0, 1e-12);
    CHECK(m.n_windows == 1, "n_windows %d", m.n_windows);
    if (m.n_windows == 1)
        CHECK_NEAR(m.curve[0].mean, 0.6, 1e-12);
    vsml_metrics_free(&m);
    CHECK(vsml_metrics_compute(c, 1, 5, 0, &m) != 0, "window 0 is rejected");
}

/* Argmax with ties to the lowest index: logits rows (3 classes)
 * [1, 2, 0] -> 1; [5, 5, 1] -> 0 (tie); [0, 0, 3] -> 2. Labels 1, 1, 2 ->
 * correct 1, 0, 1. Loss stat: seed rows [1, 3] and [2, 2] -> means 2, 2. */
static void argmax_and_loss(void)
{
    const float logits[9] = {1, 2, 0, 5, 5, 1, 0, 0, 3};
    const int32_t labels[3] = {1, 1, 2};
    uint8_t c[3];
    vsml_correct_from_logits(logits, labels, 3, 3, c);
    CHECK(c[0] == 1 && c[1] == 0 && c[2] == 1, "correct %d %d %d", c[0], c[1], c[2]);
    const float loss[4] = {1, 3, 2, 2};
    vsml_stat s = vsml_loss_stat(loss, 2, 2);
    CHECK_NEAR(s.mean, 2.0, 1e-12);
    CHECK_NEAR(s.std, 0.0, 1e-12);
}

int main(void)
{
    two_seeds();
    three_seeds();
    short_episode();
    argmax_and_loss();
    TEST_END();
}
