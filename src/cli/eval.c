/* vsml-vk eval: placeholder until meta-testing lands. */
#include "cli/cli.h"
#include "vsml/log.h"

int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    vsml_err("eval is not implemented yet");
    return 1;
}
