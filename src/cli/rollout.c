/* vsml-vk rollout: run parameters online on a dataset stream and write the
 * per-step logits, losses and correctness to a safetensors file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vsml/datasets.h"
#include "vsml/engine.h"
#include "vsml/log.h"
#include "vsml/ref.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

typedef struct rollout_opts {
    const char *params, *out, *device, *dataset, *data_dir, *images, *labels, *kernel;
    uint64_t seed, data_seed;
    int steps, episodes, synth_dim, wg, chunk, spd, split;
    bool validation, reference, cpu, test_split, force;
    cli_model_opts model;
} rollout_opts;

static int write_output(const rollout_opts *o, const vsml_model_config *cfg, int R, int T,
                        const float *logits, const float *loss, const int32_t *labels,
                        const float *sums, const float *correct)
{
    int C = cfg->sizes[cfg->n_layers];
    uint8_t *ok = malloc((size_t)R * T);
    if (!ok) {
        vsml_err("out of memory");
        return -1;
    }
    for (size_t i = 0; i < (size_t)R * T; i++) {
        const float *l = logits + i * C;
        int arg = 0;
        for (int b = 1; b < C; b++)
            if (l[b] > l[arg])
                arg = b;
        ok[i] = arg == labels[i];
    }
    vsml_tensor ts[5] = {
        {.name = "logits", .dtype = VSML_F32, .ndim = 3, .shape = {R, T, C},
         .data = (void *)logits, .nbytes = (size_t)R * T * C * 4},
        {.name = "loss", .dtype = VSML_F32, .ndim = 2, .shape = {R, T}, .data = (void *)loss,
         .nbytes = (size_t)R * T * 4},
        {.name = "correct", .dtype = VSML_U8, .ndim = 2, .shape = {R, T}, .data = ok,
         .nbytes = (size_t)R * T},
        {.name = "labels", .dtype = VSML_I32, .ndim = 2, .shape = {R, T},
         .data = (void *)labels, .nbytes = (size_t)R * T * 4},
        {.name = "episode_loss_sum", .dtype = VSML_F32, .ndim = 1, .shape = {R},
         .data = (void *)sums, .nbytes = (size_t)R * 4},
    };
    (void)correct;
    char seed[32], steps[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)o->seed);
    snprintf(steps, sizeof(steps), "%d", T);
    vsml_st_meta meta[] = {{"format", "vsml-vk-rollout-1"}, {"dataset", (char *)o->dataset},
                           {"seed", seed}, {"steps", steps},
                           {"state_bits", o->model.state_fp16 ? "16" : "32"}};
    int rc = vsml_st_write(o->out, ts, 5, meta, 5);
    free(ok);
    return rc;
}

static int run(rollout_opts *o)
{
    int rc = 1;
    vsml_dataset ds = {0};
    vsml_model_config cfg;
    float *params = NULL, *logits = NULL, *loss = NULL, *sums = NULL, *correct = NULL;
    int32_t *stream = NULL, *labels = NULL;
    uint32_t *ep_stream = NULL, *ep_init = NULL;
    vsml_engine *eng = NULL;
    vsml_dataset_req req = {.name = o->dataset, .data_dir = o->data_dir, .images = o->images,
                            .labels = o->labels, .test_split = o->test_split,
                            .synth_n = o->steps * o->episodes, .synth_dim = o->synth_dim,
                            .seed = o->data_seed};
    o->model.params_file = o->params;
    if ((o->out && cli_check_out_file(o->out, "--out", o->force, o->params, "--params") != 0) ||
        cli_check_dataset_opts(o->dataset, o->synth_dim, o->images, o->labels) != 0)
        goto out;
    if (vsml_dataset_open(&req, &ds) != 0 || cli_model_config(&o->model, &ds, &cfg) != 0)
        goto out;
    if (o->params) {
        if (vsml_params_load(o->params, &cfg, &params) != 0)
            goto out;
    } else {
        params = malloc(vsml_param_count(&cfg) * sizeof(float));
        if (!params)
            goto oom;
        vsml_params_init(&cfg, o->seed, params);
    }
    int R = o->episodes, T = o->steps, C = cfg.sizes[cfg.n_layers];
    if (cli_make_streams(&ds, R, T, o->data_seed, &stream) != 0)
        goto out;
    ep_stream = malloc(sizeof(uint32_t) * R);
    ep_init = malloc(sizeof(uint32_t) * R);
    logits = malloc(sizeof(float) * (size_t)R * T * C);
    loss = malloc(sizeof(float) * (size_t)R * T);
    labels = malloc(sizeof(int32_t) * (size_t)R * T);
    sums = malloc(sizeof(float) * R);
    correct = malloc(sizeof(float) * R);
    if (!ep_stream || !ep_init || !logits || !loss || !labels || !sums || !correct)
        goto oom;
    for (int r = 0; r < R; r++) {
        ep_stream[r] = (uint32_t)r;
        ep_init[r] = (uint32_t)r;
    }
    for (size_t i = 0; i < (size_t)R * T; i++)
        labels[i] = stream[2 * i + 1];
    vsml_episodes ep = {.P = 1, .E = R, .T = T, .x = ds.x, .n_examples = ds.n,
                        .n_streams = R, .stream = stream, .ep_stream = ep_stream,
                        .ep_init = ep_init, .seed = o->seed};
    vsml_rollout_out out = {.logits = logits, .loss = loss, .loss_sum = sums, .correct = correct};
    double updates = (double)R * T * (double)vsml_model_sub_lstms(&cfg) * cfg.micro_ticks *
                     (cfg.backward_pass ? 2 : 1);
    double dev_s = 0, ref_s = 0;
    if (!o->cpu) {
        int kern;
        if (cli_parse_kernel(o->kernel, &kern) != 0)
            goto out;
        vsml_engine_params ep_params = {.device = o->device, .validation = o->validation,
                                        .kernel = (enum vsml_kernel)kern,
                                        .workgroup_size = o->wg, .max_chunk_episodes = o->chunk,
                                        .steps_per_dispatch = o->spd, .split = o->split};
        if (vsml_engine_create(&eng, &ep_params) != 0)
            goto out;
        vsml_device_info info;
        vsml_engine_info(eng, &info);
        vsml_run_stats st;
        if (vsml_engine_rollout(eng, &cfg, params, &ep, &out, &st) != 0)
            goto out;
        dev_s = st.wall_s;
        printf("device %s: %d episodes x %d steps in %.3f s (device time %.3f s): "
               "%.3g sub-LSTM updates/s\n", info.name, R, T, st.wall_s, st.device_s,
               updates / st.wall_s);
    }
    if (o->cpu || o->reference) {
        float *rlog = o->cpu ? logits : malloc(sizeof(float) * (size_t)R * T * C);
        float *rsum = o->cpu ? sums : malloc(sizeof(float) * R);
        if (!rlog || !rsum)
            goto oom;
        vsml_rollout_out rout = {.logits = rlog, .loss_sum = rsum, .loss = o->cpu ? loss : NULL,
                                 .correct = o->cpu ? correct : NULL};
        double t0 = vsml_now();
        int r2 = vsml_ref_rollout(&cfg, params, &ep, &rout);
        ref_s = vsml_now() - t0;
        if (r2 == 0)
            printf("CPU reference: %.3f s: %.3g sub-LSTM updates/s\n", ref_s, updates / ref_s);
        if (r2 == 0 && !o->cpu) {
            /* a NaN or infinite logit counts as an infinite error */
            double worst = vsml_max_rel_diff(logits, rlog, (size_t)R * T * C);
            for (size_t i = 0; getenv("VSML_DEBUG_CMP") && i < (size_t)R * T * C; i++) {
                double e = fabs((double)logits[i] - rlog[i]) / fmax(1.0, fabs(rlog[i]));
                if (!(e <= 1e-5))
                    fprintf(stderr, "mismatch at %zu (step %zu): dev %g ref %g\n", i,
                            (i / C) % T, logits[i], rlog[i]);
            }
            printf("device vs reference: max logit error %.2e (relative, floor 1); "
                   "device is %.1fx the reference\n", worst, ref_s / dev_s);
        }
        if (!o->cpu) {
            free(rlog);
            free(rsum);
        }
        if (r2 != 0)
            goto out;
    }
    double acc = 0, mloss = 0;
    for (int r = 0; r < R; r++) {
        acc += correct[r] / T;
        mloss += sums[r] / T;
    }
    printf("online accuracy %.4f, mean loss %.4f over %d episode(s)\n", acc / R, mloss / R, R);
    if (o->out) {
        if (write_output(o, &cfg, R, T, logits, loss, labels, sums, correct) != 0)
            goto out;
        printf("wrote %s\n", o->out);
    }
    if (eng && vsml_engine_validation_errors(eng) > 0) {
        vsml_err("the validation layer reported %d error(s)", vsml_engine_validation_errors(eng));
        goto out;
    }
    rc = 0;
    goto out;
oom:
    vsml_err("out of memory");
out:
    vsml_engine_destroy(&eng);
    vsml_dataset_free(&ds);
    free(params); free(logits); free(loss); free(sums); free(correct);
    free(stream); free(labels); free(ep_stream); free(ep_init);
    return rc;
}

int cmd_rollout(int argc, char **argv)
{
    rollout_opts o = {.seed = 0, .data_seed = 1, .steps = 100, .episodes = 1,
                      .dataset = "sumsign", .synth_dim = 0,
                      .model = {.micro_ticks = 2, .init = "random", .loss = "mean"}};
    const opt opts[] = {
        {"params", OPT_STR, &o.params, "parameter file (safetensors); default: fresh init from --seed", 1, 0},
        {"seed", OPT_U64, &o.seed, "seed of the fresh parameters and of the initial states (0)", 1, 0},
        {"data-seed", OPT_U64, &o.data_seed, "seed of the example order and synthetic data (1)", 1, 0},
        {"dataset", OPT_STR, &o.dataset, "sumsign | random | mnist | fashion_mnist | emnist | kmnist | idx", 1, 0},
        CLI_DATA_OPT_ROWS(o),
        {"steps", OPT_INT, &o.steps, "steps T of every episode (100)", 1, 10000000},
        {"episodes", OPT_INT, &o.episodes, "episodes run side by side (1)", 1, 1 << 20},
        CLI_MODEL_OPT_ROWS(o.model),
        {"init", OPT_STR, &o.model.init, "initial states: random | zeros", 1, 0},
        {"out", OPT_STR, &o.out, "write logits, losses, correctness (safetensors)", 1, 0},
        {"device", OPT_STR, &o.device, "Vulkan device index or name substring", 1, 0},
        {"validation", OPT_FLAG, &o.validation, "enable the Khronos validation layer", 1, 0},
        {"reference", OPT_FLAG, &o.reference, "also run the CPU reference and compare", 1, 0},
        {"cpu", OPT_FLAG, &o.cpu, "run on the CPU reference only (no Vulkan)", 1, 0},
        {"force", OPT_FLAG, &o.force, "replace an existing --out file", 1, 0},
        {"workgroup-size", OPT_INT, &o.wg, "override the workgroup size (32..1024)", 32, 1024},
        {"chunk", OPT_INT, &o.chunk, "at most this many episodes per dispatch", 1, 1 << 20},
        {"kernel", OPT_STR, &o.kernel, CLI_KERNEL_HELP, 1, 0},
        {"steps-per-dispatch", OPT_INT, &o.spd, "steps recorded per dispatch (64)", 1, 1 << 20},
        {"split", OPT_INT, &o.split, "cpu kernel: workgroups per episode, 1..8 (0: enough for every CPU thread)", 0, VSML_MAX_SPLIT},
    };
    int r = args_parse(argc, argv, opts, (int)VSML_ARRAY_SIZE(opts), "vsml-vk rollout [options]",
                       "Run VSML parameters online on a dataset stream (prequential: every "
                       "prediction is made before its label is seen).");
    if (r != 0)
        return r > 0 ? 0 : 2;
    /* options of the device path that --cpu would ignore */
    const char *dev_opt = o.device ? "--device" : o.validation ? "--validation"
                        : o.reference ? "--reference" : o.kernel ? "--kernel"
                        : o.wg ? "--workgroup-size" : o.chunk ? "--chunk"
                        : o.spd ? "--steps-per-dispatch" : o.split ? "--split" : NULL;
    if (o.cpu && dev_opt) {
        vsml_err("%s is for a Vulkan device; --cpu runs the CPU reference alone", dev_opt);
        return 2;
    }
    return run(&o);
}
