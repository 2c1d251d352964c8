/* The training configuration: a key table, a `key = value` parser that
 * collects every problem, the resolved text and its hash. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/es.h"
#include "vsml/log.h"
#include "vsml/util.h"

enum key_type { K_INT, K_U64, K_FLOAT, K_BOOL, K_STR, K_ENUM };

typedef struct key {
    const char *name;
    enum key_type type;
    size_t off, size;   /* size: string capacity */
    double min, max;
    const char *choices; /* K_ENUM: "a|b" */
    bool hashed;         /* changes the trajectory */
} key;

#define F(field) offsetof(vsml_train_config, field), sizeof(((vsml_train_config *)0)->field)

static const key keys[] = {
    {"layers", K_STR, F(layers), 0, 0, NULL, true},
    {"micro_ticks", K_INT, F(micro_ticks), 1, 64, NULL, true},
    {"feed_label", K_BOOL, F(feed_label), 0, 0, NULL, true},
    {"backward_pass", K_BOOL, F(backward_pass), 0, 0, NULL, true},
    {"per_layer_params", K_BOOL, F(per_layer_params), 0, 0, NULL, true},
    {"clip_state", K_FLOAT, F(clip_state), 0, 1e6, NULL, true},
    {"init", K_ENUM, F(init), 0, 0, "random|zeros", true},
    {"loss", K_ENUM, F(loss), 0, 0, "mean|last", true},
    {"state_size", K_INT, F(state_size), 0, 64, NULL, true},
    {"clear_bwd", K_BOOL, F(clear_bwd), 0, 0, NULL, true},
    {"state_fp16", K_BOOL, F(state_f16), 0, 0, NULL, true},
    {"pairs", K_INT, F(pairs), 1, 1 << 20, NULL, true},
    {"pairs_per_task", K_INT, F(pairs_per_task), 1, 1 << 20, NULL, true},
    {"T", K_INT, F(T), 1, 1000000, NULL, true},
    {"steps", K_INT, F(steps), 0, 100000000, NULL, false},
    {"sigma", K_FLOAT, F(sigma), 1e-12, 1e6, NULL, true},
    {"lr", K_FLOAT, F(lr), 0, 1e6, NULL, true},
    {"weight_decay", K_FLOAT, F(weight_decay), 0, 1e6, NULL, true},
    {"grad_clip", K_FLOAT, F(grad_clip), 0, 1e30, NULL, true},
    {"rank_shaping", K_BOOL, F(rank_shaping), 0, 0, NULL, true},
    {"on_nonfinite", K_ENUM, F(on_nonfinite), 0, 0, "skip|stop", true},
    {"seed", K_U64, F(seed), 0, 0, NULL, true},
    {"dataset", K_STR, F(dataset), 0, 0, NULL, true},
    {"data_dir", K_STR, F(data_dir), 0, 0, NULL, true},
    {"input_dim", K_INT, F(input_dim), 1, 1 << 20, NULL, true},
    {"classes", K_INT, F(classes), 2, 1024, NULL, true},
    {"resize", K_INT, F(resize), 0, 1024, NULL, true},
    {"project", K_BOOL, F(project), 0, 0, NULL, true},
    {"permute_labels", K_BOOL, F(permute_labels), 0, 0, NULL, true},
    {"eval_dataset", K_STR, F(eval_dataset), 0, 0, NULL, true},
    {"eval_seed", K_U64, F(eval_seed), 0, 0, NULL, true},
    {"eval_every", K_INT, F(eval_every), 0, 100000000, NULL, false},
    {"eval_episodes", K_INT, F(eval_episodes), 1, 1 << 20, NULL, true},
    {"eval_steps", K_INT, F(eval_steps), 1, 1000000, NULL, true},
    {"checkpoint_every", K_INT, F(checkpoint_every), 1, 100000000, NULL, false},
    {"keep_checkpoints", K_INT, F(keep_checkpoints), 1, 1000000, NULL, false},
    {"log_every", K_INT, F(log_every), 1, 100000000, NULL, false},
};

void vsml_train_config_default(vsml_train_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->layers, sizeof(c->layers), "8,2");
    c->micro_ticks = 2;
    snprintf(c->init, sizeof(c->init), "random");
    snprintf(c->loss, sizeof(c->loss), "mean");
    c->pairs = 64;
    c->pairs_per_task = 16;
    c->T = 50;
    c->steps = 1000;
    c->sigma = 0.05f;
    c->lr = 0.025f;
    snprintf(c->on_nonfinite, sizeof(c->on_nonfinite), "skip");
    c->seed = 1;
    snprintf(c->dataset, sizeof(c->dataset), "sumsign");
    c->input_dim = 8;
    c->classes = 2;
    snprintf(c->eval_dataset, sizeof(c->eval_dataset), "sumsign");
    c->eval_seed = 1000003;
    c->eval_every = 50;
    c->eval_episodes = 32;
    c->eval_steps = 100;
    c->checkpoint_every = 50;
    c->keep_checkpoints = 3;
    c->log_every = 10;
}

static void problem(char *errs, size_t size, const char *fmt, ...) VSML_PRINTF(3, 4);
static void problem(char *errs, size_t size, const char *fmt, ...)
{
    size_t len = strlen(errs);
    if (len + 2 >= size)
        return;
    if (len > 0 && len + 4 < size) {
        memcpy(errs + len, "\n  ", 4);
        len += 3;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs + len, size - len, fmt, ap);
    va_end(ap);
}

static const key *find_key(const char *name)
{
    for (size_t i = 0; i < VSML_ARRAY_SIZE(keys); i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static bool in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

/* Parses v for key k into c; returns NULL or a description of the problem. */
static const char *assign(vsml_train_config *c, const key *k, const char *v)
{
    char *p = (char *)c + k->off, *end;
    errno = 0;
    switch (k->type) {
    case K_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno)
            return "an integer";
        if (x < k->min || x > k->max)
            return "in range";
        *(int *)p = (int)x;
        return NULL;
    }
    case K_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (!*v || *end || errno || *v == '-')
            return "a non-negative integer";
        *(uint64_t *)p = x;
        return NULL;
    }
    case K_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return "a number";
        if (x < k->min || x > k->max)
            return "in range";
        *(float *)p = (float)x;
        return NULL;
    }
    case K_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1"))
            *(bool *)p = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0"))
            *(bool *)p = false;
        else
            return "true or false";
        return NULL;
    case K_ENUM:
        if (!in_choices(k->choices, v))
            return "one of";
        /* fall through */
    case K_STR:
        if (strlen(v) >= k->size)
            return "shorter";
        snprintf(p, k->size, "%s", v);
        return NULL;
    }
    return "valid";
}

static int set_kv(vsml_train_config *c, const char *name, const char *v, const char *where,
                  char *errs, size_t size)
{
    const key *k = find_key(name);
    if (!k) {
        problem(errs, size, "%s: unknown key '%s'", where, name);
        return 1;
    }
    const char *want = assign(c, k, v);
    if (!want)
        return 0;
    if (!strcmp(want, "in range"))
        problem(errs, size, "%s: %s = %s is out of range [%.10g, %.10g]", where, name, v, k->min,
                k->max);
    else if (!strcmp(want, "one of"))
        problem(errs, size, "%s: %s must be one of %s, not '%s'", where, name, k->choices, v);
    else if (!strcmp(want, "shorter"))
        problem(errs, size, "%s: %s is too long (at most %zu characters)", where, name,
                k->size - 1);
    else
        problem(errs, size, "%s: %s must be %s, not '%s'", where, name, want, v);
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static int parse_line(vsml_train_config *c, char *line, const char *where, char *errs,
                      size_t size)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    char *s = trim(line);
    if (!*s)
        return 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        problem(errs, size, "%s: expected 'key = value', got '%s'", where, s);
        return 1;
    }
    *eq = 0;
    return set_kv(c, trim(s), trim(eq + 1), where, errs, size);
}

int vsml_train_config_parse(vsml_train_config *c, const char *text, const char *what,
                            char *errs, size_t errs_size)
{
    char *copy = strdup(text);
    if (!copy) {
        problem(errs, errs_size, "%s: out of memory", what);
        return 1;
    }
    int n = 0, lineno = 0;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char where[300];
        snprintf(where, sizeof(where), "%s:%d", what, ++lineno);
        n += parse_line(c, line, where, errs, errs_size);
    }
    free(copy);
    return n;
}

int vsml_train_config_set(vsml_train_config *c, const char *kv, char *errs, size_t errs_size)
{
    char buf[VSML_CFG_STR * 2];
    snprintf(buf, sizeof(buf), "%s", kv);
    if (!strchr(buf, '=')) {
        problem(errs, errs_size, "--set %s: expected key=value", kv);
        return 1;
    }
    char where[VSML_CFG_STR * 2 + 8];
    snprintf(where, sizeof(where), "--set %s", kv);
    return parse_line(c, buf, where, errs, errs_size);
}

static int parse_layers(const char *s, int *sizes)
{
    int n = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > VSML_MAX_UNITS || n == VSML_MAX_LAYERS + 1)
            return -1;
        sizes[n++] = (int)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n >= 2 ? n : -1;
}

static bool has_name(const char *names, const char *name)
{
    char buf[VSML_CFG_STR];
    snprintf(buf, sizeof(buf), "%s", names);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (!strcmp(t, name))
            return true;
    return false;
}

int vsml_train_config_validate(const vsml_train_config *c, char *errs, size_t errs_size)
{
    int n = 0, sizes[VSML_MAX_LAYERS + 2];
    int k = parse_layers(c->layers, sizes);
    if (k < 0) {
        problem(errs, errs_size, "layers = '%s' must be 2 to %d positive sizes like 8,2",
                c->layers, VSML_MAX_LAYERS + 1);
        n++;
    } else {
        if (sizes[0] != c->input_dim) {
            problem(errs, errs_size, "layers starts with %d inputs but input_dim = %d",
                    sizes[0], c->input_dim);
            n++;
        }
        if (sizes[k - 1] < c->classes) {
            problem(errs, errs_size, "layers ends with %d outputs, fewer than classes = %d",
                    sizes[k - 1], c->classes);
            n++;
        }
    }
    if (c->state_size != 0 && !vsml_state_size_ok(c->state_size)) {
        problem(errs, errs_size, "state_size = %d must be 16 or 64 (0 = the --init-params "
                "file's, else 16)", c->state_size);
        n++;
    }
    if (c->pairs % c->pairs_per_task != 0) {
        problem(errs, errs_size, "pairs = %d is not a multiple of pairs_per_task = %d",
                c->pairs, c->pairs_per_task);
        n++;
    }
    if ((has_name(c->dataset, "sumsign") || has_name(c->eval_dataset, "sumsign")) &&
        c->classes != 2) {
        problem(errs, errs_size, "dataset sumsign has 2 classes but classes = %d", c->classes);
        n++;
    }
    if (!*c->dataset || !*c->eval_dataset) {
        problem(errs, errs_size, "dataset and eval_dataset must name at least one dataset");
        n++;
    }
    return n;
}

static void format_value(const vsml_train_config *c, const key *k, char *out, size_t size)
{
    const char *p = (const char *)c + k->off;
    switch (k->type) {
    case K_INT: snprintf(out, size, "%d", *(const int *)p); break;
    case K_U64: snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case K_FLOAT: snprintf(out, size, "%.9g", (double)*(const float *)p); break;
    case K_BOOL: snprintf(out, size, "%s", *(const bool *)p ? "true" : "false"); break;
    default: snprintf(out, size, "%s", p); break;
    }
}

char *vsml_train_config_format(const vsml_train_config *c)
{
    size_t cap = 64 * VSML_ARRAY_SIZE(keys) + 4 * VSML_CFG_STR * 4, len = 0;
    char *s = malloc(cap);
    if (!s) {
        vsml_err("out of memory formatting the configuration");
        return NULL;
    }
    s[0] = 0;
    for (size_t i = 0; i < VSML_ARRAY_SIZE(keys); i++) {
        char v[VSML_CFG_STR];
        format_value(c, &keys[i], v, sizeof(v));
        len += (size_t)snprintf(s + len, cap - len, "%s = %s\n", keys[i].name, v);
    }
    return s;
}

/* The text key k hashes as; false when it is left out of the hash (a value
 * equal to the default a key had before it existed). */
static bool hashed_value(const vsml_train_config *c, const key *k, char *v, size_t size)
{
    if (!k->hashed)
        return false;
    format_value(c, k, v, size);
    /* N = 16 (or 0, its default) hashes as before state_size existed */
    if (!strcmp(k->name, "state_size") && (!strcmp(v, "0") || !strcmp(v, "16")))
        return false;
    /* likewise clear_bwd = false */
    if (!strcmp(k->name, "clear_bwd") && !strcmp(v, "false"))
        return false;
    /* and state_fp16 = false */
    if (!strcmp(k->name, "state_fp16") && !strcmp(v, "false"))
        return false;
    return true;
}

uint64_t vsml_train_config_hash(const vsml_train_config *c)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < VSML_ARRAY_SIZE(keys); i++) {
        char v[VSML_CFG_STR];
        if (!hashed_value(c, &keys[i], v, sizeof(v)))
            continue;
        h = vsml_fnv1a(keys[i].name, strlen(keys[i].name), h);
        h = vsml_fnv1a(v, strlen(v) + 1, h);
    }
    return h;
}

/* appends to a bounded string (truncating) */
static void cat(char *s, size_t size, const char *fmt, ...) VSML_PRINTF(3, 4);
static void cat(char *s, size_t size, const char *fmt, ...)
{
    size_t len = strlen(s);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s + len, size - len, fmt, ap);
    va_end(ap);
}

/* A value as a person reads it: floats in the fewest digits that give
 * the same float back (0.025, not config.cfg's 0.0250000004). */
static void show_value(const vsml_train_config *c, const key *k, char *out, size_t size)
{
    if (k->type != K_FLOAT) {
        format_value(c, k, out, size);
        return;
    }
    float x = *(const float *)((const char *)c + k->off);
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, size, "%.*g", prec, (double)x);
        if ((float)strtod(out, NULL) == x)
            return;
    }
}

int vsml_train_config_resume_diff(const vsml_train_config *was, const vsml_train_config *now,
                                  char *msg, size_t size)
{
    char names[1024] = "", old[2048] = "", cur[2048] = "", free_keys[512] = "";
    int n = 0, n_free = 0;
    for (size_t i = 0; i < VSML_ARRAY_SIZE(keys); i++)
        n_free += !keys[i].hashed;
    for (int i = 0, j = 0; i < (int)VSML_ARRAY_SIZE(keys); i++) {
        if (keys[i].hashed)
            continue;
        const char *sep = j == 0 ? "" : j == n_free - 1 ? " and " : ", ";
        cat(free_keys, sizeof(free_keys), "%s%s", sep, keys[i].name);
        j++;
    }
    for (size_t i = 0; i < VSML_ARRAY_SIZE(keys); i++) {
        const key *k = &keys[i];
        if (!k->hashed)
            continue;
        char a[VSML_CFG_STR], b[VSML_CFG_STR], fa[VSML_CFG_STR], fb[VSML_CFG_STR];
        bool ha = hashed_value(was, k, a, sizeof(a)), hb = hashed_value(now, k, b, sizeof(b));
        if (ha == hb && (!ha || !strcmp(a, b)))
            continue; /* the same trajectory */
        show_value(was, k, fa, sizeof(fa));
        show_value(now, k, fb, sizeof(fb));
        cat(names, sizeof(names), "%s%s", n ? ", " : "", k->name);
        cat(old, sizeof(old), "%s%s = %s", n ? ", " : "", k->name, fa);
        cat(cur, sizeof(cur), "%s%s = %s", n ? ", " : "", k->name, fb);
        n++;
    }
    if (n > 0 && msg && size)
        snprintf(msg, size, "%s cannot change (the run has %s; now %s): only %s may change "
                 "on --resume; start a new run to change %s", names, old, cur, free_keys,
                 n > 1 ? "them" : "it");
    return n;
}

int vsml_train_model_config(const vsml_train_config *c, vsml_model_config *cfg)
{
    int sizes[VSML_MAX_LAYERS + 2];
    int k = parse_layers(c->layers, sizes);
    if (k < 0) {
        vsml_err("layers = '%s' is not a list of sizes like 8,2", c->layers);
        return -1;
    }
    vsml_model_opts mo = {.micro_ticks = c->micro_ticks, .feed_label = c->feed_label,
                          .backward_pass = c->backward_pass,
                          .per_layer_params = c->per_layer_params, .clip_state = c->clip_state,
                          .init = c->init, .loss = c->loss, .state_size = c->state_size};
    mo.clear_bwd = c->clear_bwd;
    mo.state_f16 = c->state_f16;
    return vsml_model_config_make(cfg, k - 1, sizes, &mo);
}
