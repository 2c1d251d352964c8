/* Subcommands of vsml-vk. Each returns the process exit code. */
#ifndef VSML_CLI_H
#define VSML_CLI_H

#include "vsml/data.h"
#include "vsml/model.h"

int cmd_rollout(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Model options shared by the subcommands (see cli/common.c). */
typedef struct cli_model_opts {
    const char *layers; /* "784,10"; NULL = dataset dim, classes */
    int micro_ticks;
    bool feed_label, backward_pass, per_layer;
    float clip;
    const char *init;   /* random | zeros */
    const char *loss;   /* mean | last */
} cli_model_opts;

/* Fills cfg from the options and the dataset's shape. */
int cli_model_config(const cli_model_opts *o, const vsml_dataset *ds, vsml_model_config *cfg);

/* Builds E shuffled streams of T examples (each episode its own stream and
 * initial state); arrays are malloc'ed. */
int cli_make_streams(const vsml_dataset *ds, int n_streams, int T, uint64_t seed,
                     int32_t **stream);

#endif
