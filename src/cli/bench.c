/* vsml-vk bench: the device's measured fp32 peak and bandwidth, then VSML
 * workloads (the paper's 784x10 layer at several population sizes, a deep
 * network, full ES steps), each checked against the CPU reference before it
 * is timed; optionally the PyTorch peer on the same workloads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vsml/bench.h"
#include "vsml/log.h"
#include "vsml/util.h"
#include "vsml_config.h"
#include "vsml_git.h"

#define MAX_POPS 16
#define MAX_RESULTS 32

typedef struct bench_opts {
    const char *device, *json, *compare, *pops, *layers, *deep, *only, *peer, *peer_device;
    const char *python, *peer_script, *tmp_dir, *kernel;
    int reps, steps, deep_pop, check_steps, micro_ticks;
    bool validation, quick, paper, no_peak, state_fp16, force;
} bench_opts;

static int parse_list(const char *s, int *v, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 1 || x > (1 << 20) || n == max) {
            vsml_err("--pop must be a list of up to %d population sizes like 8,32,128 (got '%s')",
                     max, s);
            return -1;
        }
        v[n++] = (int)x;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            vsml_err("--pop must look like 8,32,128 (got '%s')", s);
            return -1;
        }
    }
    if (n == 0)
        vsml_err("--pop is empty");
    return n ? n : -1;
}

static bool wanted(const bench_opts *o, const char *group)
{
    if (!o->only)
        return true;
    const char *p = strstr(o->only, group);
    size_t n = strlen(group);
    return p && (p == o->only || p[-1] == ',') && (p[n] == 0 || p[n] == ',');
}

static int check_only(const char *only)
{
    const char *p = only;
    if (p && !*p) {
        vsml_err("--only is empty: name the workload groups, e.g. rollout,deep,es");
        return -1;
    }
    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (!((n == 7 && !strncmp(p, "rollout", 7)) || (n == 4 && !strncmp(p, "deep", 4)) ||
              (n == 2 && !strncmp(p, "es", 2)))) {
            vsml_err("--only takes workload groups rollout, deep, es separated by commas "
                     "(got '%s')", only);
            return -1;
        }
        p += n + (p[n] == ',');
    }
    return 0;
}

static int model_cfg(const char *option, const char *layers, int ticks, bool state_f16,
                     vsml_model_config *cfg)
{
    int sizes[VSML_MAX_LAYERS + 2];
    int n = args_sizes(option, layers, sizes, VSML_MAX_LAYERS + 1);
    if (n < 0)
        return -1;
    vsml_model_opts mo = {.micro_ticks = ticks, .init = "zeros", .loss = "mean",
                          .state_f16 = state_f16};
    return vsml_model_config_make(cfg, n - 1, sizes, &mo);
}

/* The ES configurations: the small built-in default (assets/small.cfg) and
 * the paper's main one on the Random dataset (784 inputs, 10 classes). */
static int es_config(bool paper, bool quick, vsml_train_config *c)
{
    char errs[1024] = "";
    vsml_train_config_default(c);
    const char *sets_small[] = {"eval_episodes=1", "eval_steps=1"};
    const char *sets_quick[] = {"pairs=8", "pairs_per_task=4", "T=10"};
    const char *sets_paper[] = {"layers=784,10", "input_dim=784", "classes=10",
                                "dataset=random", "eval_dataset=random", "pairs=1024",
                                "pairs_per_task=16", "T=500"};
    int bad = 0;
    for (size_t i = 0; i < VSML_ARRAY_SIZE(sets_small); i++)
        bad += vsml_train_config_set(c, sets_small[i], errs, sizeof(errs));
    for (size_t i = 0; paper && i < VSML_ARRAY_SIZE(sets_paper); i++)
        bad += vsml_train_config_set(c, sets_paper[i], errs, sizeof(errs));
    for (size_t i = 0; quick && !paper && i < VSML_ARRAY_SIZE(sets_quick); i++)
        bad += vsml_train_config_set(c, sets_quick[i], errs, sizeof(errs));
    bad += vsml_train_config_validate(c, errs, sizeof(errs));
    if (bad) {
        vsml_err("bench ES configuration: %s", errs);
        return -1;
    }
    return 0;
}

static void join_args(int argc, char **argv, char *out, size_t n)
{
    snprintf(out, n, "vsml-vk bench");
    for (int i = 0; i < argc; i++)
        snprintf(out + strlen(out), n - strlen(out), " %s", argv[i]);
}

static int run(bench_opts *o, const char *command)
{
    int rc = 1, n_res = 0;
    vsml_bench_result *res = calloc(MAX_RESULTS, sizeof(*res));
    vsml_engine *eng = NULL;
    char tmp[1024] = "";
    if (!res) {
        vsml_err("out of memory");
        return 1;
    }
    if (o->peer && strcmp(o->peer, "torch") != 0) {
        vsml_err("--peer must be torch (got '%s')", o->peer);
        goto out;
    }
    if (check_only(o->only) != 0)
        goto out;
    if (o->compare && access(o->compare, R_OK) != 0) {
        vsml_err("cannot read %s (--compare): %s", o->compare, strerror(errno));
        goto out;
    }
    /* before minutes of workloads, not after them */
    if ((o->compare && vsml_bench_compare_check(o->compare) != 0) ||
        (o->json && cli_check_out_file(o->json, "--json", o->force, o->compare, "--compare") != 0))
        goto out;
    int P[MAX_POPS], n_pop = parse_list(o->pops ? o->pops : "1", P, MAX_POPS);
    if (n_pop < 0)
        goto out;
    if (o->peer && o->state_fp16) {
        vsml_err("the peer keeps a 32-bit state: compare it without --state-fp16");
        goto out;
    }
    if (o->peer && access(o->peer_script, R_OK) != 0) {
        vsml_err("the peer script %s cannot be read (--peer-script)", o->peer_script);
        goto out;
    }
    int kern;
    if (cli_parse_kernel(o->kernel, &kern) != 0)
        goto out;
    if (vsml_kernel_check_state((enum vsml_kernel)kern, o->state_fp16) != 0)
        goto out; /* before the peak, not after it */
    /* the sizes given (the defaults depend on the device: checked as they
     * run): a population that cannot fit is an error now, not after the
     * peak and the other workloads */
    for (int i = 0; i < n_pop && o->pops && wanted(o, "rollout"); i++) {
        vsml_model_config mc;
        char name[VSML_BENCH_NAME];
        snprintf(name, sizeof(name), "rollout-P%d", P[i]);
        if (model_cfg("--layers", o->layers, o->micro_ticks, o->state_fp16, &mc) != 0 ||
            vsml_bench_rollout_check(&mc, name, P[i], 1, o->steps ? o->steps : 50) != 0)
            goto out;
    }
    vsml_bench_report rep = {.git_rev = VSML_GIT_REV, .version = VSML_VERSION,
                             .command = command};
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    rep.date = date;
    vsml_bench_host_info(&rep);
    if (!o->no_peak) {
        if (vsml_bench_peak_run(o->device, o->validation, o->quick, o->quick ? 2 : o->reps,
                                &rep.peak) != 0)
            goto out;
        rep.have_peak = true;
        printf("peak: %.1f GFLOP/s fp32, %.1f GB/s\n", rep.peak.fma_gflops, rep.peak.copy_gbs);
        fflush(stdout);
    }
    vsml_engine_params ep = {.device = o->device, .validation = o->validation,
                             .kernel = (enum vsml_kernel)kern};
    if (vsml_engine_create(&eng, &ep) != 0)
        goto out;
    vsml_engine_info(eng, &rep.dev);
    bool cpu = rep.dev.type && !strcasecmp(rep.dev.type, "cpu");
    if (o->peer) {
        snprintf(tmp, sizeof(tmp), "%s/vsml-bench-XXXXXX", o->tmp_dir);
        if (!mkdtemp(tmp)) {
            vsml_err("cannot make a directory for the peer's workload files in %s: %s",
                     o->tmp_dir, strerror(errno));
            tmp[0] = 0;
            goto out;
        }
    }
    /* defaults per device class: a CPU runs the paper's layer slowly */
    const char *pops = o->pops ? o->pops : o->quick ? "1,2" : cpu ? "1,4,16" : "64,256,1024,2048";
    int T = o->steps ? o->steps : o->quick ? 2 : cpu ? 8 : 50;
    const char *deep = o->deep ? o->deep : o->quick ? "32,16,10" : "784,64,10";
    int deep_pop = o->deep_pop ? o->deep_pop : o->quick ? 2 : cpu ? 1 : 256;
    n_pop = parse_list(pops, P, MAX_POPS);
    if (n_pop < 0)
        goto out;
    struct {
        const char *name, *layers, *option;
        int P;
    } rl[MAX_POPS + 1];
    char names[MAX_POPS + 1][VSML_BENCH_NAME];
    int n_rl = 0;
    for (int i = 0; i < n_pop && wanted(o, "rollout"); i++) {
        snprintf(names[n_rl], VSML_BENCH_NAME, "rollout-P%d", P[i]);
        rl[n_rl].name = names[n_rl];
        rl[n_rl].layers = o->layers;
        rl[n_rl].option = "--layers";
        rl[n_rl++].P = P[i];
    }
    if (wanted(o, "deep")) {
        snprintf(names[n_rl], VSML_BENCH_NAME, "deep-P%d", deep_pop);
        rl[n_rl].name = names[n_rl];
        rl[n_rl].layers = deep;
        rl[n_rl].option = "--deep";
        rl[n_rl++].P = deep_pop;
    }
    for (int i = 0; i < n_rl; i++) {
        vsml_bench_rollout_spec sp = {.name = rl[i].name, .P = rl[i].P, .E = 1, .T = T,
                                      .reps = o->reps, .seed = 1000 + (uint64_t)i,
                                      .check_steps = o->check_steps < T ? o->check_steps : T};
        if (model_cfg(rl[i].option, rl[i].layers, o->micro_ticks, o->state_fp16, &sp.cfg) != 0)
            goto out;
        char wfile[1100];
        float *dev_logits = NULL;
        if (o->peer) {
            snprintf(wfile, sizeof(wfile), "%s/%s.safetensors", tmp, rl[i].name);
            sp.workload_file = wfile;
        }
        printf("%s: %s, %d episodes x %d steps ...\n", sp.name, rl[i].layers, sp.P * sp.E, T);
        fflush(stdout);
        if (vsml_bench_rollout(eng, &sp, &res[n_res], o->peer ? &dev_logits : NULL) != 0)
            goto out;
        if (o->peer) {
            int prc = vsml_bench_peer_run(o->python, o->peer_script, o->peer_device, wfile, &sp,
                                          dev_logits, &res[n_res].peer);
            free(dev_logits);
            remove(wfile);
            if (prc != 0)
                goto out;
        }
        vsml_bench_print_one(stdout, &res[n_res]);
        n_res++;
    }
    if (wanted(o, "es")) {
        vsml_train_config c;
        bool with_paper = o->paper || (!cpu && !o->quick);
        for (int paper = 0; paper <= (with_paper ? 1 : 0); paper++) {
            if (es_config(paper, o->quick, &c) != 0)
                goto out;
            c.state_f16 = o->state_fp16;
            const char *name = paper ? "es-paper" : "es-small";
            printf("%s: %s, %d pairs x %d steps ...\n", name, c.layers, c.pairs, c.T);
            fflush(stdout);
            if (vsml_bench_es_step(eng, name, &c, o->reps,
                                   o->check_steps < c.T ? o->check_steps : c.T,
                                   &res[n_res]) != 0)
                goto out;
            vsml_bench_print_one(stdout, &res[n_res]);
            n_res++;
        }
    }
    if (vsml_engine_validation_errors(eng) > 0) {
        vsml_err("the validation layer reported %d error(s)", vsml_engine_validation_errors(eng));
        goto out;
    }
    rep.n_results = n_res;
    rep.results = res;
    printf("\n");
    vsml_bench_print(stdout, &rep);
    if (o->compare && vsml_bench_compare(stdout, o->compare, &rep) != 0)
        goto out;
    if (o->json) {
        if (vsml_bench_write_json(o->json, &rep) != 0)
            goto out;
        printf("wrote %s\n", o->json);
    }
    rc = 0;
out:
    if (tmp[0])
        rmdir(tmp);
    vsml_engine_destroy(&eng);
    free(res);
    return rc;
}

/* Debian's python3-torch lives with /usr/bin/python3; a python3 that comes
 * first on PATH (pyenv, a virtualenv) usually lacks it. */
static const char *default_python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

int cmd_bench(int argc, char **argv)
{
    const char *py = getenv("VSML_PYTHON");
    bench_opts o = {.reps = 3, .check_steps = 3, .micro_ticks = 2, .layers = "784,10",
                    .peer_device = "auto", .python = py && *py ? py : default_python(),
                    .peer_script = VSML_SOURCE_ROOT "/bench/peers/vsml_torch.py",
                    .tmp_dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"};
    const opt opts[] = {
        {"device", OPT_STR, &o.device, "Vulkan device index or name substring", 1, 0},
        {"validation", OPT_FLAG, &o.validation, "enable the Khronos validation layer", 1, 0},
        {"json", OPT_STR, &o.json, "write the results as JSON (bench/schema.json)", 1, 0},
        {"compare", OPT_STR, &o.compare, "print the change against an earlier JSON file", 1, 0},
        {"quick", OPT_FLAG, &o.quick, "tiny workloads (tests)", 1, 0},
        {"reps", OPT_INT, &o.reps, "timed repetitions per workload (3)", 1, VSML_BENCH_MAX_REPS},
        {"only", OPT_STR, &o.only, "workload groups: rollout,deep,es (all)", 1, 0},
        {"pop", OPT_STR, &o.pops, "population sizes of the rollout workloads "
                                  "(CPU 1,4,16; GPU 64,256,1024,2048)", 1, 0},
        {"layers", OPT_STR, &o.layers, "layer of the rollout workloads (784,10)", 1, 0},
        {"steps", OPT_INT, &o.steps, "steps T of the rollout workloads (CPU 8, GPU 50)", 1,
         1000000},
        {"micro-ticks", OPT_INT, &o.micro_ticks, "sub-LSTM ticks per step of the rollout and deep workloads (2)", 1, 64},
        {"deep", OPT_STR, &o.deep, "layers of the deep workload (784,64,10)", 1, 0},
        {"deep-pop", OPT_INT, &o.deep_pop, "episodes of the deep workload (CPU 1, GPU 256)", 1,
         1 << 20},
        {"paper", OPT_FLAG, &o.paper, "also the paper's ES step (784x10, 1024 pairs, T 500; "
                                      "default on GPUs)", 1, 0},
        {"check-steps", OPT_INT, &o.check_steps, "steps of the check against the CPU "
                                                 "reference (3)", 1, 1000},
        {"no-peak", OPT_FLAG, &o.no_peak, "skip the peak microbenchmark", 1, 0},
        {"force", OPT_FLAG, &o.force, "replace an existing --json file", 1, 0},
        {"peer", OPT_STR, &o.peer, "also run a peer implementation on the rollouts: torch", 1,
         0},
        {"kernel", OPT_STR, &o.kernel, CLI_KERNEL_HELP, 1, 0},
        {"state-fp16", OPT_FLAG, &o.state_fp16, "store h and c as 16-bit floats between "
                                                "steps (the parallel kernel)", 1, 0},
        {"peer-device", OPT_STR, &o.peer_device, "auto | cpu | cuda (auto)", 1, 0},
        {"python", OPT_STR, &o.python, "python interpreter for the peer ($VSML_PYTHON, else "
                                       "/usr/bin/python3 where it exists, else python3)", 1, 0},
        {"peer-script", OPT_STR, &o.peer_script, "the peer script "
                                                 "(bench/peers/vsml_torch.py)", 1, 0},
    };
    int r = args_parse(argc, argv, opts, (int)VSML_ARRAY_SIZE(opts), "vsml-vk bench [options]",
                       "Measure the device's fp32 peak and bandwidth, then VSML rollouts and ES "
                       "steps, each checked against the CPU reference before it is timed. "
                       "VSML_BENCH_INJECT_ERROR=1 perturbs a device result (tests of the "
                       "check).");
    if (r != 0)
        return r > 0 ? 0 : 2;
    char command[2048];
    join_args(argc, argv, command, sizeof(command));
    return run(&o, command);
}
