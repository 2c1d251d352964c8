/* vsml-vk train: placeholder until the ES trainer lands. */
#include "cli/cli.h"
#include "vsml/log.h"

int cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    vsml_err("train is not implemented yet");
    return 1;
}
