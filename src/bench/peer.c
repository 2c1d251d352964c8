/* Runs a peer implementation (bench/peers/vsml_torch.py) on a workload file
 * written by vsml_bench_rollout: the peer writes its logits of the check
 * slice and prints one JSON line with its timings; its logits must agree
 * with the engine's before its time is recorded. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "vsml/bench.h"
#include "vsml/log.h"
#include "vsml/safetensors.h"
#include "vsml/util.h"

static bool shell_safe(const char *s)
{
    return s && !strchr(s, '\'') && !strchr(s, '\n');
}

/* Drains the peer's stdout; keeps its last line that starts with '{'. */
static bool read_output(FILE *p, char *last, size_t n)
{
    char line[8192];
    bool found = false;
    while (fgets(line, sizeof(line), p))
        if (line[0] == '{') {
            snprintf(last, n, "%s", line);
            found = true;
        }
    return found;
}

static int check_logits(const char *path, const vsml_bench_rollout_spec *spec, const float *dev,
                        double *err)
{
    vsml_st st;
    if (vsml_st_read(path, &st) != 0)
        return -1;
    int rc = -1;
    const vsml_tensor *t = vsml_st_find(&st, "logits");
    int64_t R = (int64_t)spec->P * spec->E, Tc = spec->check_steps;
    int64_t C = spec->cfg.sizes[spec->cfg.n_layers];
    if (!t || t->dtype != VSML_F32 || t->ndim != 3 || t->shape[0] != R || t->shape[1] != Tc ||
        t->shape[2] != C) {
        vsml_err("%s: the peer's logits are missing or not F32 [%lld, %lld, %lld]", path,
                 (long long)R, (long long)Tc, (long long)C);
        goto out;
    }
    *err = vsml_max_rel_diff(t->data, dev, (size_t)(R * Tc * C));
    rc = 0;
out:
    vsml_st_free(&st);
    return rc;
}

int vsml_bench_peer_run(const char *python, const char *script, const char *peer_device,
                        const char *workload_file, const vsml_bench_rollout_spec *spec,
                        const float *dev_logits, vsml_bench_peer *out)
{
    memset(out, 0, sizeof(*out));
    char check_path[1024], cmd[4096];
    snprintf(check_path, sizeof(check_path), "%s.peer.safetensors", workload_file);
    if (!shell_safe(python) || !shell_safe(script) || !shell_safe(peer_device) ||
        !shell_safe(workload_file)) {
        vsml_err("peer paths must not contain quotes or newlines");
        return -1;
    }
    snprintf(cmd, sizeof(cmd),
             "'%s' '%s' --workload '%s' --check-out '%s' --reps %d --device '%s'", python,
             script, workload_file, check_path, spec->reps, peer_device);
    vsml_dbg("peer: %s", cmd);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) {
        vsml_err("cannot run the peer (%s)", cmd);
        return -1;
    }
    char line[8192];
    bool found = read_output(p, line, sizeof(line));
    int status = pclose(p);
    int rc = -1;
    json_object *j = NULL;
    if (status != 0 || !found) {
        vsml_err("the peer failed on workload %s (exit status %d): %s", spec->name,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, cmd);
        goto out;
    }
    j = json_tokener_parse(line);
    json_object *times, *desc, *name;
    if (!j || !json_object_object_get_ex(j, "times_s", &times) ||
        json_object_get_type(times) != json_type_array || json_object_array_length(times) < 1 ||
        json_object_array_length(times) > VSML_BENCH_MAX_REPS) {
        vsml_err("the peer printed no valid JSON result line for workload %s", spec->name);
        goto out;
    }
    double t[VSML_BENCH_MAX_REPS];
    int n = (int)json_object_array_length(times);
    for (int i = 0; i < n; i++)
        t[i] = json_object_get_double(json_object_array_get_idx(times, (size_t)i));
    out->wall = vsml_bench_stats(t, n);
    snprintf(out->name, sizeof(out->name), "%s",
             json_object_object_get_ex(j, "peer", &name) ? json_object_get_string(name) : "peer");
    snprintf(out->desc, sizeof(out->desc), "%s",
             json_object_object_get_ex(j, "desc", &desc) ? json_object_get_string(desc) : "");
    if (check_logits(check_path, spec, dev_logits, &out->check_err) != 0)
        goto out;
    if (!(out->check_err <= 2 * VSML_BENCH_TOL)) {
        vsml_err("workload %s: the peer (%s) and the engine disagree (max relative logit "
                 "difference %.3g > %.0e on %d step(s))", spec->name, out->name, out->check_err,
                 2 * VSML_BENCH_TOL, spec->check_steps);
        goto out;
    }
    out->ran = true;
    rc = 0;
out:
    if (j)
        json_object_put(j);
    remove(check_path);
    return rc;
}
