/* Model configuration checks and parameter files: layout, round trips,
 * and one clear failure for each kind of bad file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vsml/log.h"
#include "vsml/model.h"
#include "vsml/rollout.h"
#include "vsml/safetensors.h"

static int n_errors;
static char last_error[1024];
static void count_errors(void *u, enum vsml_log_level lv, const char *msg)
{
    if (lv == VSML_LOG_ERROR) {
        n_errors++;
        snprintf(last_error, sizeof(last_error), "%s", msg);
    }
}

static void write_bytes(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

/* Loading must fail with exactly one error message. */
static void expect_load_fail(const char *path, const vsml_model_config *cfg, const char *what)
{
    float *p = (float *)1;
    n_errors = 0;
    int rc = vsml_params_load(path, cfg, &p);
    CHECK(rc != 0 && p == NULL, "%s: load should fail", what);
    CHECK(n_errors == 1, "%s: %d error messages (want 1)", what, n_errors);
}

/* vsml_rollout_step on hand-made outputs, against closed forms: softmax of
 * (0, ln 3, 0) is (1/5, 3/5, 1/5); a tie goes to the first largest output;
 * outputs near 1000 must not overflow (log-sum-exp); a NaN output marks its
 * step non-finite (the first such step counts). Episode r = 1 of 2, T = 5,
 * C = 3. */
static void test_rollout_step(void)
{
    enum { T = 5, C = 3 };
    const double ys[T][C] = {{0.0, log(3.0), 0.0}, {2.0, 2.0, 1.0}, {1000.0, 999.0, 999.0},
                             {NAN, 0.0, 0.0}, {0.0, NAN, 0.0}};
    const int labels[T] = {1, 1, 1, 2, 1};
    const double want_loss[3] = {log(5.0 / 3.0), log(2.0 + exp(-1.0)),
                                 1.0 + log(1.0 + 2.0 * exp(-1.0))};
    float logits[2 * T * C], loss[2 * T];
    for (int i = 0; i < 2 * T * C; i++)
        logits[i] = -7.0f;
    for (int i = 0; i < 2 * T; i++)
        loss[i] = -7.0f;
    vsml_rollout_out out = {.logits = logits, .loss = loss};
    vsml_rollout_acc acc = {0};
    double e[C];
    for (int t = 0; t < T; t++) {
        vsml_rollout_step(&acc, &out, 1, t, T, C, ys[t], labels[t], e);
        if (t == 0) {
            CHECK_NEAR(e[0], 0.2, 1e-15);
            CHECK_NEAR(e[1], -0.4, 1e-15);
            CHECK_NEAR(e[2], 0.2, 1e-15);
            CHECK(acc.correct == 1.0, "step 0 correct: %g", acc.correct);
        }
        if (t == 1) {
            double p2 = exp(-1.0) / (2.0 + exp(-1.0)), p0 = 1.0 / (2.0 + exp(-1.0));
            CHECK_NEAR(e[0], p0, 1e-15);
            CHECK_NEAR(e[1], p0 - 1.0, 1e-15);
            CHECK_NEAR(e[2], p2, 1e-15);
            CHECK(acc.correct == 1.0, "a tie goes to the first output: correct %g", acc.correct);
        }
        if (t == 2) {
            double z = 1.0 + 2.0 * exp(-1.0);
            CHECK_NEAR(e[0], 1.0 / z, 1e-15);
            CHECK_NEAR(e[1], exp(-1.0) / z - 1.0, 1e-15);
            CHECK(acc.nonfinite == 0.0, "finite so far: %g", acc.nonfinite);
            CHECK_NEAR(acc.loss_sum, want_loss[0] + want_loss[1] + want_loss[2], 1e-12);
        }
        if (t < 3) {
            CHECK_NEAR(acc.loss, want_loss[t], 1e-12);
            CHECK(loss[T + t] == (float)acc.loss, "stored loss %d: %g", t, loss[T + t]);
        }
        for (int b = 0; b < C; b++)
            CHECK(memcmp(&logits[(T + t) * C + b], &(float){(float)ys[t][b]}, sizeof(float)) == 0,
                  "stored logit %d %d", t, b);
    }
    CHECK(isnan(acc.loss) && isnan(loss[T + 3]) && isnan(loss[T + 4]) && isnan(acc.loss_sum),
          "NaN output: loss %g", acc.loss);
    CHECK(acc.nonfinite == 4.0 && acc.correct == 1.0, "nonfinite %g correct %g", acc.nonfinite,
          acc.correct);
    for (int i = 0; i < T * C; i++)
        CHECK(logits[i] == -7.0f, "episode 0 untouched at %d", i);
    for (int i = 0; i < T; i++)
        CHECK(loss[i] == -7.0f, "episode 0 loss untouched at %d", i);
}

int main(void)
{
    vsml_log_set_callback(count_errors, NULL);
    /* Layout of spec section 2: 32*64 + 64 + 16*8 + 8 + 16*8 + 8 = 2384. */
    CHECK(VSML_BLOCK_SIZE == 2384, "block size %d", VSML_BLOCK_SIZE);
    CHECK(VSML_OFF_B_LSTM == 2048 && VSML_OFF_W_FWD == 2112 && VSML_OFF_B_FWD == 2240 &&
              VSML_OFF_W_BWD == 2248 && VSML_OFF_B_BWD == 2376, "offsets");

    int sizes[3] = {784, 100, 10};
    vsml_model_config cfg, pl;
    vsml_model_config_default(&cfg, 2, sizes);
    CHECK(cfg.micro_ticks == 2 && !cfg.feed_label && cfg.loss_type == VSML_LOSS_MEAN, "defaults");
    CHECK(vsml_param_count(&cfg) == 2384, "shared count");
    CHECK(vsml_model_sub_lstms(&cfg) == 784 * 100 + 100 * 10, "sub-LSTMs");
    pl = cfg;
    pl.per_layer_params = true;
    CHECK(vsml_param_count(&pl) == 2 * 2384, "per-layer count");

    /* Bad configurations: one error each. */
    vsml_model_config bad = cfg;
    bad.sizes[1] = 0;
    n_errors = 0;
    CHECK(vsml_model_config_check(&bad) != 0 && n_errors == 1, "size 0 accepted");
    bad = cfg;
    bad.micro_ticks = 0;
    bad.sizes[2] = 1;
    n_errors = 0;
    CHECK(vsml_model_config_check(&bad) != 0 && n_errors == 1, "two problems, one message");
    bad = cfg;
    bad.n_layers = 0;
    CHECK(vsml_model_config_check(&bad) != 0, "0 layers accepted");

    /* The shared option mapping: names are checked, flags land in cfg. */
    vsml_model_config made;
    vsml_model_opts mo = {.micro_ticks = 3, .feed_label = true, .init = "zeros", .loss = "last"};
    CHECK(vsml_model_config_make(&made, 2, sizes, &mo) == 0 && made.micro_ticks == 3 &&
              made.feed_label && made.init_mode == VSML_INIT_ZEROS &&
              made.loss_type == VSML_LOSS_LAST, "config_make");
    mo.init = "bogus";
    n_errors = 0;
    CHECK(vsml_model_config_make(&made, 2, sizes, &mo) != 0 && n_errors == 1, "bad init name");
    mo.init = NULL;
    mo.loss = "median";
    n_errors = 0;
    CHECK(vsml_model_config_make(&made, 2, sizes, &mo) != 0 && n_errors == 1, "bad loss name");

    /* Init: deterministic, biases zero, weights within 2 std. */
    float *a = malloc(2 * 2384 * 4), *b = malloc(2 * 2384 * 4);
    vsml_params_init(&pl, 5, a);
    vsml_params_init(&pl, 5, b);
    CHECK(memcmp(a, b, 2 * 2384 * 4) == 0, "init not deterministic");
    vsml_params_init(&pl, 6, b);
    CHECK(memcmp(a, b, 2384 * 4) != 0, "init ignores the seed");
    CHECK(memcmp(a, a + 2384, 2384 * 4) != 0, "per-layer blocks identical");
    int ok = 1;
    for (int i = 0; i < 64; i++)
        ok &= a[VSML_OFF_B_LSTM + i] == 0.0f;
    for (int i = 0; i < 2048; i++)
        ok &= fabsf(a[i]) <= 2.0f / sqrtf(32.0f) + 1e-6f;
    CHECK(ok, "init ranges");

    char dir[] = "/tmp/vsml_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], bad_path[256];
    snprintf(path, sizeof(path), "%s/p.safetensors", dir);
    snprintf(bad_path, sizeof(bad_path), "%s/bad.safetensors", dir);

    /* Round trips, shared and per layer. */
    float *back = NULL;
    CHECK(vsml_params_save(path, &pl, a, 0, NULL) == 0, "save");
    CHECK(vsml_params_load(path, &pl, &back) == 0 && back &&
              memcmp(back, a, 2 * 2384 * 4) == 0, "per-layer round trip");
    free(back);
    vsml_st st;
    CHECK(vsml_st_read(path, &st) == 0, "read");
    const vsml_tensor *t = vsml_st_find(&st, "layer1.W_fwd");
    CHECK(t && t->ndim == 2 && t->shape[0] == 16 && t->shape[1] == 8 &&
              memcmp(t->data, a + 2384 + VSML_OFF_W_FWD, 128 * 4) == 0, "named tensor");
    vsml_st_free(&st);

    /* Wrong size: per-layer file for a shared model and vice versa. */
    expect_load_fail(path, &cfg, "2 blocks for a shared model");
    CHECK(vsml_params_save(path, &cfg, a, 0, NULL) == 0, "save shared");
    back = NULL;
    CHECK(vsml_params_load(path, &cfg, &back) == 0 && memcmp(back, a, 2384 * 4) == 0, "shared");
    free(back);
    expect_load_fail(path, &pl, "1 block for a per-layer model");

    /* Truncated and corrupt files. */
    uint8_t *raw;
    size_t len;
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    raw = malloc(len);
    CHECK(fread(raw, 1, len, f) == len, "read back");
    fclose(f);
    write_bytes(bad_path, raw, len - 100);
    expect_load_fail(bad_path, &cfg, "truncated");
    write_bytes(bad_path, raw, 5);
    expect_load_fail(bad_path, &cfg, "5 bytes");
    write_bytes(bad_path, "", 0);
    expect_load_fail(bad_path, &cfg, "empty");
    uint8_t *cor = malloc(len);
    memcpy(cor, raw, len);
    cor[12] ^= 0x55; /* inside the JSON header */
    write_bytes(bad_path, cor, len);
    expect_load_fail(bad_path, &cfg, "corrupt header");
    expect_load_fail("/nonexistent/p.safetensors", &cfg, "missing file");

    /* A tensor of the wrong shape, and a NaN parameter. */
    vsml_tensor one = {.name = "W_lstm", .dtype = VSML_F32, .ndim = 2, .shape = {32, 63},
                       .data = a, .nbytes = 32 * 63 * 4};
    CHECK(vsml_st_write(bad_path, &one, 1, NULL, 0) == 0, "write");
    expect_load_fail(bad_path, &cfg, "wrong shape");
    CHECK(strstr(last_error, "not F32 of shape [32,63]") != NULL, "wrong shape: '%s'", last_error);
    /* metadata that is not a size is reported as it is written */
    vsml_st_meta m8 = {.key = "M", .value = "-8"};
    CHECK(vsml_st_write(bad_path, &one, 1, &m8, 1) == 0, "write");
    expect_load_fail(bad_path, &cfg, "M = -8");
    CHECK(strstr(last_error, "metadata M = '-8' is not a size") != NULL, "M = -8: '%s'",
          last_error);
    a[7] = NAN;
    CHECK(vsml_params_save(bad_path, &cfg, a, 0, NULL) == 0, "save nan");
    expect_load_fail(bad_path, &cfg, "NaN parameter");

    /* State size N = 64: layout from spec section 2 written out
     * ([2M+N][4N] = 80 x 256, 4N, [N][M] = 64 x 8, M, 64 x 8, M). */
    vsml_param_layout L16, L64;
    vsml_param_layout_of(16, &L16);
    vsml_param_layout_of(64, &L64);
    CHECK(L16.w_lstm == VSML_OFF_W_LSTM && L16.b_lstm == VSML_OFF_B_LSTM &&
              L16.w_fwd == VSML_OFF_W_FWD && L16.b_fwd == VSML_OFF_B_FWD &&
              L16.w_bwd == VSML_OFF_W_BWD && L16.b_bwd == VSML_OFF_B_BWD &&
              L16.block == VSML_BLOCK_SIZE && L16.G == 64, "N=16 layout = shader macros");
    CHECK(L64.N == 64 && L64.M == 8 && L64.G == 256 && L64.b_lstm == 20480 &&
              L64.w_fwd == 20736 && L64.b_fwd == 21248 && L64.w_bwd == 21256 &&
              L64.b_bwd == 21768 && L64.block == 21776, "N=64 layout");
    vsml_model_config c64 = cfg, p64 = pl;
    c64.state_size = p64.state_size = 64;
    CHECK(vsml_model_config_check(&c64) == 0 && vsml_param_count(&c64) == 21776 &&
              vsml_param_count(&p64) == 2 * 21776, "N=64 counts");
    CHECK(cfg.state_size == 16 && vsml_state_size(&cfg) == 16, "default N");
    bad = cfg;
    bad.state_size = 0;
    CHECK(vsml_model_config_check(&bad) == 0 && vsml_state_size(&bad) == 16, "N=0 is 16");
    bad.state_size = 32;
    n_errors = 0;
    CHECK(vsml_model_config_check(&bad) != 0 && n_errors == 1, "N=32 accepted");
    bad.state_size = -16;
    n_errors = 0;
    CHECK(vsml_model_config_check(&bad) != 0 && n_errors == 1, "N=-16 accepted");
    mo = (vsml_model_opts){.micro_ticks = 2, .state_size = 64};
    CHECK(vsml_model_config_make(&made, 2, sizes, &mo) == 0 && made.state_size == 64,
          "config_make N=64");
    mo.state_size = 48;
    n_errors = 0;
    CHECK(vsml_model_config_make(&made, 2, sizes, &mo) != 0 && n_errors == 1, "N=48 made");

    float *a64 = malloc(2 * 21776 * 4);
    vsml_params_init(&p64, 5, a64);
    ok = 1;
    for (int i = 0; i < 256; i++)
        ok &= a64[L64.b_lstm + i] == 0.0f;
    for (size_t i = 0; i < L64.b_lstm; i++)
        ok &= fabsf(a64[i]) <= 2.0f / sqrtf(80.0f) + 1e-6f;
    for (int i = 0; i < 512; i++)
        ok &= fabsf(a64[L64.w_fwd + i]) <= 2.0f / 8.0f + 1e-6f &&
              fabsf(a64[21776 + L64.w_bwd + i]) <= 2.0f / 8.0f + 1e-6f;
    CHECK(ok, "N=64 init ranges");
    CHECK(vsml_params_save(path, &p64, a64, 0, NULL) == 0, "save N=64");
    back = NULL;
    CHECK(vsml_params_load(path, &p64, &back) == 0 && back &&
              memcmp(back, a64, 2 * 21776 * 4) == 0, "N=64 per-layer round trip");
    free(back);
    CHECK(vsml_params_file_state_size(path) == 64, "N of the file");
    CHECK(vsml_st_read(path, &st) == 0, "read N=64");
    t = vsml_st_find(&st, "layer1.W_lstm");
    const char *meta_n = vsml_st_get_meta(&st, "state_size");
    CHECK(t && t->ndim == 2 && t->shape[0] == 80 && t->shape[1] == 256 &&
              memcmp(t->data, a64 + 21776, 80 * 256 * 4) == 0 && meta_n &&
              !strcmp(meta_n, "64"), "N=64 tensor and metadata");
    vsml_st_free(&st);
    /* N mismatch, both ways: one error */
    pl.state_size = 16;
    expect_load_fail(path, &pl, "N=64 file for an N=16 model");
    CHECK(vsml_params_save(path, &cfg, a, 0, NULL) == 0, "save N=16 again");
    CHECK(vsml_params_file_state_size(path) == 16, "N of an N=16 file");
    expect_load_fail(path, &c64, "N=16 file for an N=64 model");
    n_errors = 0;
    CHECK(vsml_params_file_state_size("/nonexistent/p.safetensors") < 0 && n_errors == 1,
          "N of a missing file");
    free(a64);

    unlink(path);
    unlink(bad_path);
    rmdir(dir);
    free(raw);
    free(cor);
    free(a);
    free(b);
    test_rollout_step();
    TEST_END();
}
