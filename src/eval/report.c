/* Meta-test reports: results.json, results.csv, the PNG plots and the table
 * printed to stdout. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vsml/eval.h"
#include "vsml/log.h"
#include "vsml/util.h"
#include "vsml_config.h"
#include "vsml_git.h"

/* ---- a growable string ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

VSML_PRINTF(2, 3)
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static int sb_write(sbuf *b, const char *path)
{
    int rc = -1;
    if (b->oom)
        vsml_err("out of memory writing %s", path);
    else
        rc = vsml_write_file_atomic(path, b->s, b->len);
    free(b->s);
    return rc;
}

/* A JSON number: non-finite values become null. */
static void sb_num(sbuf *b, double v)
{
    if (isfinite(v))
        sb_printf(b, "%.6g", v);
    else
        sb_printf(b, "null");
}

/* A JSON string of plain names (quotes and control characters escaped). */
static void sb_str(sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c < 0x20)
            sb_printf(b, "\\u%04x", c);
        else
            sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

vsml_stat vsml_loss_stat(const float *loss, int S, int T)
{
    double small[64];
    double *v = S <= 64 ? small : malloc(sizeof(double) * (size_t)S);
    vsml_stat st = {NAN, NAN};
    if (!v || S < 1 || T < 1) {
        if (v != small)
            free(v);
        return st;
    }
    for (int s = 0; s < S; s++) {
        double sum = 0;
        for (int t = 0; t < T; t++)
            sum += loss[(size_t)s * T + t];
        v[s] = sum / T;
    }
    st = vsml_stat_of(v, S);
    if (v != small)
        free(v);
    return st;
}

/* ---- JSON ---- */

static void json_stat(sbuf *b, const char *key, vsml_stat s)
{
    sb_printf(b, "\"%s\": {\"mean\": ", key);
    sb_num(b, s.mean);
    sb_printf(b, ", \"std\": ");
    sb_num(b, s.std);
    sb_printf(b, "}");
}

static void json_curve(sbuf *b, const vsml_metrics *m, int T)
{
    sb_printf(b, "\"curve\": {\"window\": %d, \"start\": [", m->window);
    for (int w = 0; w < m->n_windows; w++)
        sb_printf(b, "%s%d", w ? ", " : "", w * m->window);
    sb_printf(b, "], \"end\": [");
    for (int w = 0; w < m->n_windows; w++)
        sb_printf(b, "%s%d", w ? ", " : "", (w + 1) * m->window < T ? (w + 1) * m->window : T);
    sb_printf(b, "], \"mean\": [");
    for (int w = 0; w < m->n_windows; w++) {
        sb_printf(b, "%s", w ? ", " : "");
        sb_num(b, m->curve[w].mean);
    }
    sb_printf(b, "], \"std\": [");
    for (int w = 0; w < m->n_windows; w++) {
        sb_printf(b, "%s", w ? ", " : "");
        sb_num(b, m->curve[w].std);
    }
    sb_printf(b, "]}");
}

static void json_method(sbuf *b, const vsml_eval_method *e, int T)
{
    sb_printf(b, "        {\"name\": ");
    sb_str(b, e->name);
    sb_printf(b, ", \"label\": ");
    sb_str(b, e->label);
    sb_printf(b, ",\n         ");
    json_stat(b, "online_accuracy", e->m.online);
    sb_printf(b, ",\n         ");
    json_stat(b, "first100_accuracy", e->m.first);
    sb_printf(b, ",\n         ");
    json_stat(b, "final_accuracy", e->m.final);
    sb_printf(b, ",\n         ");
    json_stat(b, "online_loss", e->loss);
    sb_printf(b, ",\n         \"wall_s\": ");
    sb_num(b, e->wall_s);
    sb_printf(b, ",\n         ");
    json_curve(b, &e->m, T);
    sb_printf(b, "}");
}

static void json_dataset(sbuf *b, const vsml_eval_dataset *d, int T)
{
    sb_printf(b, "    {\"name\": ");
    sb_str(b, d->name);
    sb_printf(b, ", \"dim\": %d, \"classes\": %d, \"examples\": %d, \"layers\": [", d->dim,
              d->classes, d->examples);
    for (int k = 0; k <= d->n_layers; k++)
        sb_printf(b, "%s%d", k ? ", " : "", d->layers[k]);
    sb_printf(b, "],\n     \"methods\": [\n");
    for (int i = 0; i < d->n_methods; i++) {
        json_method(b, &d->methods[i], T);
        sb_printf(b, "%s\n", i + 1 < d->n_methods ? "," : "");
    }
    sb_printf(b, "     ]}");
}

int vsml_eval_write_json(const char *path, const vsml_eval_report *r)
{
    sbuf b = {0};
    sb_printf(&b, "{\n  \"format\": \"vsml-vk-eval-1\",\n  \"version\": ");
    sb_str(&b, VSML_VERSION " (git " VSML_GIT_REV ")");
    sb_printf(&b, ",\n  \"params\": ");
    if (r->params)
        sb_str(&b, r->params);
    else
        sb_printf(&b, "null,\n  \"init_seed\": %llu", (unsigned long long)r->init_seed);
    sb_printf(&b, ",\n  \"device\": ");
    sb_str(&b, r->device);
    sb_printf(&b, ",\n  \"steps\": %d, \"seeds\": %d, \"window\": %d, \"hidden\": %d,\n"
              "  \"state_bits\": %d,\n"
              "  \"seed\": %llu, \"data_seed\": %llu,\n  \"first_n\": %d, \"final_steps\": %d,\n"
              "  \"std\": \"population (divide by seeds)\",\n  \"total_s\": ",
              r->steps, r->seeds, r->window, r->hidden, r->state_bits ? r->state_bits : 32,
              (unsigned long long)r->seed,
              (unsigned long long)r->data_seed,
              r->steps < VSML_EVAL_FIRST_N ? r->steps : VSML_EVAL_FIRST_N,
              r->steps / VSML_EVAL_FINAL_FRAC > 0 ? r->steps / VSML_EVAL_FINAL_FRAC : 1);
    sb_num(&b, r->total_s);
    sb_printf(&b, ",\n  \"datasets\": [\n");
    for (int i = 0; i < r->n_datasets; i++) {
        json_dataset(&b, &r->datasets[i], r->steps);
        sb_printf(&b, "%s\n", i + 1 < r->n_datasets ? "," : "");
    }
    sb_printf(&b, "  ]\n}\n");
    return sb_write(&b, path);
}

/* ---- CSV: one row per figure ---- */

static void csv_row(sbuf *b, const char *ds, const char *method, const char *metric, int t0,
                    int t1, vsml_stat s)
{
    sb_printf(b, "%s,%s,%s,%d,%d,", ds, method, metric, t0, t1);
    if (isfinite(s.mean))
        sb_printf(b, "%.6g", s.mean);
    sb_printf(b, ",");
    if (isfinite(s.std))
        sb_printf(b, "%.6g", s.std);
    sb_printf(b, "\n");
}

int vsml_eval_write_csv(const char *path, const vsml_eval_report *r)
{
    sbuf b = {0};
    int T = r->steps, first = T < VSML_EVAL_FIRST_N ? T : VSML_EVAL_FIRST_N;
    int last = T / VSML_EVAL_FINAL_FRAC > 0 ? T / VSML_EVAL_FINAL_FRAC : 1;
    sb_printf(&b, "dataset,method,metric,step_start,step_end,mean,std\n");
    for (int i = 0; i < r->n_datasets; i++) {
        const vsml_eval_dataset *d = &r->datasets[i];
        for (int j = 0; j < d->n_methods; j++) {
            const vsml_eval_method *e = &d->methods[j];
            csv_row(&b, d->name, e->name, "online_accuracy", 0, T, e->m.online);
            csv_row(&b, d->name, e->name, "first100_accuracy", 0, first, e->m.first);
            csv_row(&b, d->name, e->name, "final_accuracy", T - last, T, e->m.final);
            csv_row(&b, d->name, e->name, "online_loss", 0, T, e->loss);
            for (int w = 0; w < e->m.n_windows; w++) {
                int t1 = (w + 1) * e->m.window < T ? (w + 1) * e->m.window : T;
                csv_row(&b, d->name, e->name, "window_accuracy", w * e->m.window, t1,
                        e->m.curve[w]);
            }
        }
    }
    return sb_write(&b, path);
}

/* ---- plots ---- */

static int plot_dataset(const char *dir, const vsml_eval_report *r, const vsml_eval_dataset *d)
{
    vsml_plot_series s[VSML_EVAL_MAX_METHODS];
    int nw = d->methods[0].m.n_windows, W = d->methods[0].m.window;
    double *buf = malloc(sizeof(double) * (size_t)nw * (1 + 2 * VSML_EVAL_MAX_METHODS));
    if (!buf) {
        vsml_err("out of memory plotting %s", d->name);
        return -1;
    }
    double *x = buf;
    for (int w = 0; w < nw; w++) /* the window's middle step */
        x[w] = (w * W + ((w + 1) * W < r->steps ? (w + 1) * W : r->steps)) / 2.0;
    for (int i = 0; i < d->n_methods; i++) {
        double *mean = buf + (size_t)nw * (1 + 2 * i), *sd = mean + nw;
        for (int w = 0; w < nw; w++) {
            mean[w] = d->methods[i].m.curve[w].mean;
            sd[w] = d->methods[i].m.curve[w].std;
        }
        s[i] = (vsml_plot_series){.name = d->methods[i].label, .n = nw, .x = x, .mean = mean,
                                  .std = sd};
    }
    char path[4096], title[256], ylabel[64];
    snprintf(path, sizeof(path), "%s/curves_%s.png", dir, d->name);
    snprintf(title, sizeof(title), "%s: online learning, mean and std over %d seeds", d->name,
             r->seeds);
    snprintf(ylabel, sizeof(ylabel), "accuracy (windows of %d)", W);
    int rc = vsml_plot_curves(path, title, "examples seen", ylabel, 900, 500, r->steps, s,
                              d->n_methods);
    free(buf);
    return rc;
}

/* A grouped bar chart of one metric (0: online, 1: first 100). */
static int plot_bars(const char *dir, const vsml_eval_report *r, int which)
{
    int G = r->n_datasets, S = r->datasets[0].n_methods;
    double *mean = malloc(sizeof(double) * (size_t)G * S * 2), *sd = mean + (size_t)G * S;
    const char **groups = malloc(sizeof(char *) * (size_t)G);
    const char *series[VSML_EVAL_MAX_METHODS];
    if (!mean || !groups) {
        free(mean);
        free(groups);
        vsml_err("out of memory plotting");
        return -1;
    }
    for (int g = 0; g < G; g++) {
        groups[g] = r->datasets[g].name;
        for (int i = 0; i < S; i++) {
            const vsml_metrics *m = &r->datasets[g].methods[i].m;
            vsml_stat st = which ? m->first : m->online;
            mean[(size_t)g * S + i] = st.mean;
            sd[(size_t)g * S + i] = st.std;
        }
    }
    for (int i = 0; i < S; i++)
        series[i] = r->datasets[0].methods[i].label;
    char path[4096], title[128];
    snprintf(path, sizeof(path), "%s/%s.png", dir, which ? "first100_accuracy" : "online_accuracy");
    if (which)
        snprintf(title, sizeof(title), "accuracy on the first %d examples",
                 r->steps < VSML_EVAL_FIRST_N ? r->steps : VSML_EVAL_FIRST_N);
    else
        snprintf(title, sizeof(title), "online accuracy over %d examples", r->steps);
    int width = 420 + 60 * G * S;
    int rc = vsml_plot_bars(path, title, "accuracy", width < 8192 ? width : 8192, 480, groups, G,
                            series, S, mean, sd);
    free(mean);
    free(groups);
    return rc;
}

int vsml_eval_write_plots(const char *dir, const vsml_eval_report *r)
{
    for (int i = 0; i < r->n_datasets; i++)
        if (plot_dataset(dir, r, &r->datasets[i]) != 0)
            return -1;
    if (r->n_datasets < 1 || plot_bars(dir, r, 0) != 0 || plot_bars(dir, r, 1) != 0)
        return -1;
    return 0;
}

/* ---- stdout ---- */

void vsml_eval_print_table(const vsml_eval_report *r)
{
    int first = r->steps < VSML_EVAL_FIRST_N ? r->steps : VSML_EVAL_FIRST_N;
    printf("\n%-14s %-16s %-17s %-17s %-17s %-9s %s\n", "dataset", "method", "online acc",
           "first-100 acc", "final acc", "loss", "time s");
    if (first != VSML_EVAL_FIRST_N)
        printf("(first-100 covers the first %d steps: the episodes are shorter)\n", first);
    for (int i = 0; i < r->n_datasets; i++) {
        const vsml_eval_dataset *d = &r->datasets[i];
        for (int j = 0; j < d->n_methods; j++) {
            const vsml_eval_method *e = &d->methods[j];
            printf("%-14s %-16s %.4f +- %.4f  %.4f +- %.4f  %.4f +- %.4f  %-9.4f %.2f\n",
                   j ? "" : d->name, e->label, e->m.online.mean, e->m.online.std,
                   e->m.first.mean, e->m.first.std, e->m.final.mean, e->m.final.std,
                   e->loss.mean, e->wall_s);
        }
    }
    printf("(mean +- standard deviation over %d seeds of %d steps)\n", r->seeds, r->steps);
}

void vsml_eval_report_free(vsml_eval_report *r)
{
    for (int i = 0; i < r->n_datasets; i++)
        for (int j = 0; j < r->datasets[i].n_methods; j++)
            vsml_metrics_free(&r->datasets[i].methods[j].m);
    free(r->datasets);
    r->datasets = NULL;
    r->n_datasets = 0;
}
