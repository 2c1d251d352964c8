#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "vsml/log.h"

static void print_help(const opt *opts, int n, const char *usage, const char *desc)
{
    printf("usage: %s\n\n%s\n\noptions:\n", usage, desc);
    for (int i = 0; i < n; i++) {
        const char *meta = opts[i].type == OPT_FLAG ? "" : opts[i].type == OPT_STR ? " S" : " N";
        char left[64];
        snprintf(left, sizeof(left), "--%s%s", opts[i].name, meta);
        printf("  %-24s %s\n", left, opts[i].help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int set_value(const opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    double d = 0;
    switch (o->type) {
    case OPT_STR:
        *(const char **)o->ptr = v;
        return 0;
    case OPT_FLAG:
        return 0;
    case OPT_U64: {
        /* digits only: strtod would take 1e3 and 0x10, strtoull -1 */
        unsigned long long u = 0;
        if (*v && strspn(v, "0123456789") == strlen(v))
            u = strtoull(v, &end, 10);
        if (!*v || !end || *end || errno) {
            vsml_err("--%s expects a whole number in [0, 2^64 - 1] in decimal digits, not '%s'",
                     o->name, v);
            return -1;
        }
        if (o->min <= o->max && ((double)u < o->min || (double)u > o->max)) {
            vsml_err("--%s %s is out of range [%g, %g]", o->name, v, o->min, o->max);
            return -1;
        }
        *(uint64_t *)o->ptr = u;
        return 0;
    }
    case OPT_INT:
    case OPT_FLOAT:
        d = strtod(v, &end);
        break;
    }
    if (!*v || *end || errno || !isfinite(d)) {
        vsml_err("--%s expects a number, not '%s'", o->name, v);
        return -1;
    }
    if (o->min <= o->max && (d < o->min || d > o->max)) {
        vsml_err("--%s %s is out of range [%g, %g]", o->name, v, o->min, o->max);
        return -1;
    }
    if (o->type != OPT_FLOAT && d != floor(d)) {
        vsml_err("--%s expects a whole number, not '%s'", o->name, v);
        return -1;
    }
    if (o->type == OPT_INT)
        *(int *)o->ptr = (int)d;
    else
        *(float *)o->ptr = (float)d;
    return 0;
}

int args_parse(int argc, char **argv, const opt *opts, int n_opts, const char *usage,
               const char *description)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(opts, n_opts, usage, description);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            vsml_err("unexpected argument '%s' (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = NULL;
        for (int j = 0; j < n_opts && !o; j++)
            if (strlen(opts[j].name) == len && !strncmp(opts[j].name, name, len))
                o = &opts[j];
        if (!o) {
            vsml_err("unknown option '%.*s' (see --help)", (int)len + 2, a);
            return -1;
        }
        if (o->type == OPT_FLAG) {
            if (eq) {
                vsml_err("--%s takes no value", o->name);
                return -1;
            }
            *(bool *)o->ptr = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            vsml_err("--%s needs a value", o->name);
            return -1;
        }
        if (set_value(o, v) != 0)
            return -1;
    }
    return 0;
}

int args_sizes(const char *option, const char *s, int *sizes, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > (1 << 24)) {
            vsml_err("%s: layer sizes must look like 784,10 (got '%s')", option, s);
            return -1;
        }
        if (n == max) {
            vsml_err("%s: at most %d layer sizes are supported (got '%s')", option, max, s);
            return -1;
        }
        sizes[n++] = (int)v;
        p = end;
        if (*p == ',' || *p == 'x')
            p++;
        else if (*p) {
            vsml_err("%s: layer sizes must look like 784,10 (got '%s')", option, s);
            return -1;
        }
    }
    if (n < 2) {
        vsml_err("%s: need at least an input and an output size (got '%s')", option, s);
        return -1;
    }
    return n;
}
