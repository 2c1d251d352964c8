/* vsml-vk bench without a device: the cost accounting against spec section
 * 10's figures worked out by hand, the repetition statistics, and a JSON
 * report written, read back by --compare and rejected when it is not one. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vsml/bench.h"
#include "vsml/util.h"

static void test_cost(void)
{
    vsml_model_config cfg;
    int sizes[2] = {784, 10};
    vsml_model_config_default(&cfg, 1, sizes);
    vsml_bench_cost c;
    /* the paper's ES step: 2,048 episodes of 500 steps, 2 micro ticks */
    vsml_bench_rollout_cost(&cfg, 2048, 500, &c);
    double sub = 784.0 * 10, rt = 2048.0 * 500;
    CHECK(c.updates == rt * sub * 2, "updates %g", c.updates);
    /* per tick 32x64 multiply-adds + 60; per step 2 projections of 16x8 */
    double model = rt * sub * (2 * (32 * 64 * 2 + 60) + 2 * 16 * 8 * 2);
    CHECK(fabs(c.flop_model / model - 1) < 1e-12, "flop_model %g vs %g", c.flop_model, model);
    CHECK(fabs(c.flop_model / 70.84e12 - 1) < 1e-3, "the paper's step is %g FLOP", c.flop_model);
    /* executed: h part only (16x64) per tick, means of h (2 adds per value),
     * U[a] and V[b] (8x64) and the two projections per a and b */
    double exec = rt * (sub * (2 * (16 * 64 * 2 + 60) + 2 * 16) + (784 + 10) * (8 * 64 * 2 + 16 * 8 * 2));
    CHECK(fabs(c.flop_exec / exec - 1) < 1e-12, "flop_exec %g vs %g", c.flop_exec, exec);
    CHECK(c.flop_exec < 0.55 * c.flop_model, "precomputed inbox terms halve the work");
    double bytes = rt * (sub * 32 * 4 * 2 + (784 + 10) * 4);
    CHECK(fabs(c.bytes / bytes - 1) < 1e-12, "bytes %g vs %g", c.bytes, bytes);
    /* backward_pass doubles the layer work */
    cfg.backward_pass = true;
    vsml_bench_cost c2;
    vsml_bench_rollout_cost(&cfg, 2048, 500, &c2);
    CHECK(c2.updates == 2 * c.updates, "backward pass updates");
}

static void test_stats(void)
{
    double v[5] = {3, 1, 5, 2, 4};
    vsml_bench_stat s = vsml_bench_stats(v, 5);
    CHECK(s.median == 3 && s.min == 1 && s.max == 5, "odd: %g %g %g", s.median, s.min, s.max);
    s = vsml_bench_stats(v, 4);
    CHECK(s.median == 2.5 && s.min == 1 && s.max == 5, "even: %g", s.median);
    CHECK(v[0] == 3 && v[1] == 1, "the input is not reordered");
}

static void test_json(void)
{
    char dir[] = "/tmp/vsml-bench-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256], bad[256];
    snprintf(path, sizeof(path), "%s/r.json", dir);
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    vsml_bench_result w[2];
    memset(w, 0, sizeof(w));
    vsml_model_config cfg;
    int sizes[2] = {784, 10};
    vsml_model_config_default(&cfg, 1, sizes);
    for (int i = 0; i < 2; i++) {
        snprintf(w[i].name, sizeof(w[i].name), "rollout-P%d", i + 1);
        snprintf(w[i].layers, sizeof(w[i].layers), "784-10");
        w[i].P = i + 1;
        w[i].E = 1;
        w[i].T = 2;
        w[i].reps = 3;
        w[i].micro_ticks = 2;
        w[i].wall = (vsml_bench_stat){2.0, 1.5, 2.5};
        w[i].device = (vsml_bench_stat){1.0, 0.9, 1.1};
        w[i].check_tol = 1e-4;
        w[i].check_err = 1e-6;
        w[i].check_episodes = 1;
        w[i].check_steps = 2;
        vsml_bench_rollout_cost(&cfg, w[i].P, w[i].T, &w[i].cost);
    }
    vsml_bench_report r = {.git_rev = "abc", .version = "0", .command = "vsml-vk bench",
                           .date = "2026-11-30T00:00:00Z", .have_peak = true,
                           .peak = {.fma_gflops = 10, .copy_gbs = 5, .fma_chains = 2,
                                    .fma_invocations = 64, .copy_bytes = 32, .timestamps = true},
                           .n_results = 2, .results = w};
    snprintf(r.dev.name, sizeof(r.dev.name), "test device");
    r.dev.type = "CPU";
    CHECK(vsml_bench_write_json(path, &r) == 0, "write");
    uint8_t *buf;
    size_t len;
    CHECK(vsml_read_file(path, 1 << 20, &buf, &len) == 0, "read back");
    CHECK(strstr((char *)buf, "\"schema\":\"vsml-bench-1\"") != NULL, "schema tag");
    /* 784*10*2 ticks * 2 steps = 31360 updates in 1 s of device time */
    CHECK(strstr((char *)buf, "\"updates_per_s\":31360") != NULL, "rate from device time: %s",
          (char *)buf);
    free(buf);
    FILE *f = tmpfile();
    CHECK(f && vsml_bench_compare(f, path, &r) == 0, "compare with itself");
    rewind(f);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = 0;
    fclose(f);
    CHECK(strstr(out, "rollout-P2") && strstr(out, "+0.0%"), "no change: %s", out);
    const char *nojson = "{\"workloads\": []}";
    CHECK(vsml_write_file_atomic(bad, nojson, strlen(nojson)) == 0, "write bad");
    f = fopen("/dev/null", "w");
    CHECK(vsml_bench_compare(f, bad, &r) != 0, "a file without the schema tag is refused");
    fclose(f);
    remove(path);
    remove(bad);
    rmdir(dir);
}

int main(void)
{
    test_cost();
    test_stats();
    test_json();
    TEST_END();
}
