#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "vk/vk.h"
#include "vsml/log.h"
#include "vsml_config.h"
#include "vsml_git.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vsml-vk COMMAND [options]\n\n"
            "VSML (Kirsch & Schmidhuber, 2021) on Vulkan: every weight is a tiny LSTM.\n\n"
            "commands:\n"
            "  train     meta-train the shared parameters with evolution strategies\n"
            "  eval      meta-test parameters against SGD and Adam; JSON, CSV and plots\n"
            "  rollout   run parameters online on a dataset; write logits and losses\n"
            "  devices   list the Vulkan devices\n"
            "  bench     peak, VSML workloads and a PyTorch peer, checked and timed\n"
            "  viz       watch VSML learn online in a window (or --offscreen FILE.png)\n"
            "  clone     clone backpropagation into the sub-LSTM (gradient descent, no device)\n"
            "  version   print the version\n\n"
            "'vsml-vk COMMAND --help' describes each command. Environment: VSML_DEVICE picks\n"
            "the device (index or name), VSML_VALIDATION=1 enables the validation layer,\n"
            "VSML_THREADS sets the host threads (default: the CPUs, shared among the MPI\n"
            "ranks of a node), VSML_DEFAULT_PARAMS the parameter file of eval and viz\n"
            "without --params (default: " CLI_DEFAULT_PARAMS ").\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-v") || !strcmp(cmd, "--verbose")) {
        vsml_log_set_level(VSML_LOG_DEBUG);
        argv++;
        argc--;
        if (argc < 2) {
            usage(stderr);
            return 2;
        }
        cmd = argv[1];
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        int r = args_parse(argc - 2, argv + 2, NULL, 0, "vsml-vk version",
                           "Print the version and the git revision of the build.");
        if (r != 0)
            return r > 0 ? 0 : 2;
        printf("vsml-vk %s (git %s)\n", VSML_VERSION, VSML_GIT_REV);
        return 0;
    }
    if (!strcmp(cmd, "devices")) {
        int r = args_parse(argc - 2, argv + 2, NULL, 0, "vsml-vk devices",
                           "List the Vulkan devices: index, name, type and Vulkan version (the "
                           "index or a name substring is what --device and VSML_DEVICE take).");
        if (r != 0)
            return r > 0 ? 0 : 2;
        return vk_list_devices(stdout) > 0 ? 0 : 1;
    }
    if (!strcmp(cmd, "rollout"))
        return cmd_rollout(argc - 2, argv + 2);
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "viz"))
        return cmd_viz(argc - 2, argv + 2);
    if (!strcmp(cmd, "clone"))
        return cmd_clone(argc - 2, argv + 2);
    vsml_err("unknown command '%s' (see vsml-vk --help)", cmd);
    return 2;
}
