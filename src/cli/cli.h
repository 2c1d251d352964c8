/* Subcommands of vsml-vk. Each returns the process exit code. */
#ifndef VSML_CLI_H
#define VSML_CLI_H

#include "vsml/data.h"
#include "vsml/model.h"

int cmd_rollout(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_clone(int argc, char **argv);

/* --kernel auto | parallel | serial | cpu (NULL = auto); one error line and
 * -1 for anything else. */
int cli_parse_kernel(const char *s, int *kernel);
#define CLI_KERNEL_HELP                                                                         \
    "auto | parallel (workgroup per episode) | serial (invocation per episode) | cpu "         \
    "(workgroup per episode, lanes over sub-LSTMs: CPU devices)"

/* Model options shared by the subcommands (see cli/common.c). */
typedef struct cli_model_opts {
    const char *layers; /* "784,10"; NULL = dataset dim, classes */
    int micro_ticks;
    bool feed_label, backward_pass, per_layer;
    float clip;
    const char *init;   /* random | zeros */
    const char *loss;   /* mean | last */
    int state_size;     /* N; 0 = the parameter file's (params_file), else 16 */
    const char *params_file; /* set by the command: where N comes from when not given */
    bool clear_bwd;
    bool state_fp16;
} cli_model_opts;

/* The option-table rows (cli/args.h) of the model options, shared by the
 * subcommands so that every command spells them the same way. */
#define CLI_MODEL_OPT_ROWS(m)                                                                   \
    {"layers", OPT_STR, &(m).layers, "layer sizes, e.g. 784,10 (default: dataset dim, classes)", \
     1, 0},                                                                                     \
    {"micro-ticks", OPT_INT, &(m).micro_ticks, "sub-LSTM ticks per step (2)", 1, 64},            \
    {"feed-label", OPT_FLAG, &(m).feed_label, "feed the label with the error", 1, 0},           \
    {"backward-pass", OPT_FLAG, &(m).backward_pass, "reverse sweep with the error at once", 1,  \
     0},                                                                                        \
    {"per-layer", OPT_FLAG, &(m).per_layer, "one parameter block per layer", 1, 0},             \
    {"clip", OPT_FLOAT, &(m).clip, "clip cell states to [-clip, clip] (0 = off)", 0, 1e6},      \
    {"state-size", OPT_INT, &(m).state_size,                                                    \
     "sub-LSTM state size N: 16 or 64 (default: the parameter file's, else 16)", 1, 1024},       \
    {"clear-bwd", OPT_FLAG, &(m).clear_bwd,                                                     \
     "with --backward-pass: clear every layer's error inbox after the backward sweep", 1, 0},    \
    {"state-fp16", OPT_FLAG, &(m).state_fp16,                                                   \
     "store h and c as 16-bit floats between steps (on a device: the parallel kernel)", 1, 0}

/* The option-table rows of where a dataset comes from, for option structs
 * with the fields data_dir, images, labels (const char *), test_split
 * (bool) and synth_dim (int). */
#define CLI_DATA_OPT_ROWS(o)                                                                    \
    {"data-dir", OPT_STR, &(o).data_dir, "where IDX datasets live", 1, 0},                       \
    {"images", OPT_STR, &(o).images, "IDX image file (dataset idx)", 1, 0},                      \
    {"labels", OPT_STR, &(o).labels, "IDX label file (dataset idx)", 1, 0},                      \
    {"test-split", OPT_FLAG, &(o).test_split, "use the test files of an IDX dataset", 1, 0},     \
    {"input-dim", OPT_INT, &(o).synth_dim, "input size of synthetic datasets (784)", 1, 1 << 20}

/* Fills cfg from the options and the dataset's shape (N from o->params_file
 * when o->state_size is 0). */
int cli_model_config(const cli_model_opts *o, const vsml_dataset *ds, vsml_model_config *cfg);

/* Builds E shuffled streams of T examples (each episode its own stream and
 * initial state); arrays are malloc'ed. */
/* The same with stream s drawing from examples [s * block, (s + 1) * block)
 * only (block > 0: the set holds one task of block examples per stream;
 * the caller makes it that large); block 0: the whole set. */
int cli_make_streams_blocks(const vsml_dataset *ds, int n_streams, int T, uint64_t seed,
                            int block, int32_t **stream);
int cli_make_streams(const vsml_dataset *ds, int n_streams, int T, uint64_t seed,
                     int32_t **stream);

/* The shipped learner, assets/learner.safetensors, looked for in the
 * current directory and then in the source tree: its path in path, 0 when
 * found, else -1 (nothing logged). */
#define CLI_DEFAULT_PARAMS "assets/learner.safetensors"
/* The parameter file of eval and viz without --params: $VSML_DEFAULT_PARAMS
 * if set, else CLI_DEFAULT_PARAMS in the current directory or the source
 * tree. Returns -1 if it cannot be read, with its name in path. */
int cli_default_params(char *path, size_t n);

/* Options of another dataset than the one chosen (--input-dim of a stored
 * one, --images/--labels of another than idx): one error, -1. */
int cli_check_dataset_opts(const char *dataset, int synth_dim, const char *images,
                           const char *labels);

/* An output file the command will write at its end (--json, --out,
 * --offscreen): its directory must exist and be writable, the path must not
 * be a directory nor the file input (of input_option; NULL: none), and an
 * existing file is replaced only with force. Checked before the work starts
 * so that a long run does not end in that error. One error line naming the
 * option and -1 otherwise. */
int cli_check_out_file(const char *path, const char *option, bool force, const char *input,
                       const char *input_option);

int cmd_viz(int argc, char **argv);

#endif
