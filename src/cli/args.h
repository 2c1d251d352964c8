/* A table-driven option parser for the subcommands: --name VALUE or
 * --name=VALUE, typed and range-checked, with --help generated from the
 * table. Every problem is one clear message and a non-zero return. */
#ifndef VSML_CLI_ARGS_H
#define VSML_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

enum opt_type { OPT_INT, OPT_U64, OPT_FLOAT, OPT_STR, OPT_FLAG };

typedef struct opt {
    const char *name;   /* without the leading dashes */
    enum opt_type type;
    void *ptr;          /* int*, uint64_t*, float*, const char**, bool* */
    const char *help;
    double min, max;    /* inclusive range for numbers (ignored if min > max) */
} opt;

/* Returns 0 when parsed, 1 when --help was printed, -1 on error. */
int args_parse(int argc, char **argv, const opt *opts, int n_opts, const char *usage,
               const char *description);

/* Parses "784,100,10" (the value of option, which errors name) into sizes;
 * returns the count or -1. */
int args_sizes(const char *option, const char *s, int *sizes, int max);

#endif
