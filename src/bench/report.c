/* Bench reports: the table, the JSON file (bench/schema.json) and the
 * comparison with an earlier JSON file. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vsml/bench.h"
#include "vsml/log.h"
#include "vsml/util.h"

/* Seconds the rates are computed from: device time where measured. */
static double basis_s(const vsml_bench_result *w, bool *device)
{
    *device = w->device.median > 0;
    return *device ? w->device.median : w->wall.median;
}

static double rate(double x, double s) { return s > 0 ? x / s : 0; }

void vsml_bench_print_one(FILE *f, const vsml_bench_result *w)
{
    bool dev;
    double s = basis_s(w, &dev);
    fprintf(f, "  %s: %.3g sub-LSTM updates/s, %.3g GFLOP/s, %.2f ms (%s, median of %d), "
               "check %.1e", w->name, rate(w->cost.updates, s), rate(w->cost.flop_exec, s) * 1e-9,
            s * 1e3, dev ? "device" : "wall", w->reps, w->check_err);
    if (w->peer.ran)
        fprintf(f, "; peer %.3g updates/s (%.2fx)", rate(w->cost.updates, w->peer.wall.median),
                w->peer.wall.median / w->wall.median);
    fprintf(f, "\n");
    fflush(f);
}

static const char *kernel_name(enum vsml_kernel k)
{
    return k == VSML_KERNEL_SERIAL ? "serial" : k == VSML_KERNEL_CPU ? "cpu" : "parallel";
}

static char kernel_char(enum vsml_kernel k)
{
    return kernel_name(k)[0];
}

void vsml_bench_host_info(vsml_bench_report *r)
{
    r->host_cpu[0] = '\0';
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->host_cpus = n > 0 ? (int)n : 1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon)
            continue;
        /* the value without the blanks around it */
        colon += 1 + strspn(colon + 1, " \t");
        size_t len = strlen(colon);
        while (len > 0 && strchr(" \t\r\n", colon[len - 1]))
            len--;
        snprintf(r->host_cpu, sizeof(r->host_cpu), "%.*s", (int)len, colon);
        break;
    }
    if (f)
        fclose(f);
}

void vsml_bench_print(FILE *f, const vsml_bench_report *r)
{
    const vsml_device_info *d = &r->dev;
    fprintf(f, "vsml-vk bench %s (git %s), %s\n", r->version, r->git_rev, r->date);
    fprintf(f, "device: %s (%s, vendor 0x%04x), Vulkan %u.%u.%u, driver 0x%x, subgroup %u, "
               "workgroup %u, %.0f MiB per buffer, %u B shared, timestamps %s\n",
            d->name, d->type, d->vendor_id, d->api_version >> 22, (d->api_version >> 12) & 0x3ff,
            d->api_version & 0xfff, d->driver_version, d->subgroup_size, d->workgroup_size,
            d->max_storage_range / 1048576.0, d->max_shared_memory, d->timestamps ? "yes" : "no");
    fprintf(f, "host: %s, %d CPU%s\n", r->host_cpu[0] ? r->host_cpu : "CPU model unknown",
            r->host_cpus, r->host_cpus == 1 ? "" : "s");
    if (r->have_peak)
        fprintf(f, "measured peak: %.1f GFLOP/s fp32 (FMA, %d vec4 chains), %.1f GB/s (copy, "
                   "read + write)\n", r->peak.fma_gflops, r->peak.fma_chains, r->peak.copy_gbs);
    fprintf(f, "\n%-18s %-10s %5s %4s %10s %7s %10s %9s %7s %8s %10s %8s %9s %s\n", "workload",
            "layers", "eps", "T", "time ms", "spread", "upd/s", "GFLOP/s", "%peak", "GB/s",
            "peer upd/s", "vs peer", "check err", "plan");
    for (int i = 0; i < r->n_results; i++) {
        const vsml_bench_result *w = &r->results[i];
        bool dev;
        double s = basis_s(w, &dev);
        double spread = w->wall.median > 0 ? (w->wall.max - w->wall.min) / w->wall.median : 0;
        if (dev)
            spread = (w->device.max - w->device.min) / w->device.median;
        double gf = rate(w->cost.flop_exec, s) * 1e-9;
        char pct[16] = "-", peer[16] = "-", vs[16] = "-";
        if (r->have_peak && r->peak.fma_gflops > 0)
            snprintf(pct, sizeof(pct), "%.2f", 100.0 * gf / r->peak.fma_gflops);
        if (w->peer.ran) {
            snprintf(peer, sizeof(peer), "%.3g", rate(w->cost.updates, w->peer.wall.median));
            snprintf(vs, sizeof(vs), "%.2fx", w->peer.wall.median / w->wall.median);
        }
        char plan[32] = "-";
        if (w->have_plan)
            snprintf(plan, sizeof(plan), w->plan.split > 1 ? "%c%u/%d x%d" : "%c%u/%d",
                     kernel_char(w->plan.kernel), w->plan.workgroup_size,
                     w->plan.steps_per_dispatch, w->plan.split);
        fprintf(f, "%-18s %-10s %5d %4d %10.1f %6.0f%% %10.3g %9.3g %7s %8.3g %10s %8s %9.1e %s\n",
                w->name, w->layers, w->P * w->E, w->T, s * 1e3, 100 * spread,
                rate(w->cost.updates, s), gf, pct, rate(w->cost.bytes, s) * 1e-9, peer, vs,
                w->check_err, plan);
    }
    /* --state-fp16 applies to every workload of a run */
    if (r->n_results > 0 && r->results[0].state_bits == 16)
        fprintf(f, "all workloads store h and c as 16-bit floats between steps (--state-fp16)\n");
    for (int i = 0; i < r->n_results; i++) {
        const vsml_bench_result *w = &r->results[i];
        if (w->kind == VSML_BENCH_ES_STEP && w->rollout.median > 0 && w->wall.median > 0)
            fprintf(f, "%s: the rollout %.1f ms of the step's %.1f ms; the rest (tasks, "
                       "perturbation, gradient, Adam) %.0f%%\n",
                    w->name, w->rollout.median * 1e3, w->wall.median * 1e3,
                    100.0 * (1.0 - w->rollout.median / w->wall.median));
    }
    fprintf(f, "\ntime: median of the repetitions (device time from timestamps where marked in "
               "the JSON, else wall); spread = (max - min) / median;\nGFLOP/s counts the "
               "FLOP the engine's algorithm executes (bench/schema.json); vs peer = peer wall "
               "time / engine wall time; check err: max relative logit error vs the CPU "
               "reference;\nplan: kernel (p parallel, s serial, c cpu), workgroup size / steps per dispatch, xN: N "
            "workgroups per episode.\n");
}

static json_object *stat_json(const vsml_bench_stat *s)
{
    if (!(s->median > 0))
        return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "median", json_object_new_double(s->median));
    json_object_object_add(o, "min", json_object_new_double(s->min));
    json_object_object_add(o, "max", json_object_new_double(s->max));
    return o;
}

static json_object *num_or_null(double v, bool ok)
{
    return ok && isfinite(v) ? json_object_new_double(v) : NULL;
}

static json_object *workload_json(const vsml_bench_report *r, const vsml_bench_result *w)
{
    json_object *o = json_object_new_object();
    bool dev;
    double s = basis_s(w, &dev);
    bool pk = r->have_peak && r->peak.fma_gflops > 0 && r->peak.copy_gbs > 0;
    json_object_object_add(o, "name", json_object_new_string(w->name));
    json_object_object_add(o, "kind", json_object_new_string(
                                          w->kind == VSML_BENCH_ROLLOUT ? "rollout" : "es_step"));
    json_object_object_add(o, "layers", json_object_new_string(w->layers));
    json_object_object_add(o, "P", json_object_new_int(w->P));
    json_object_object_add(o, "E", json_object_new_int(w->E));
    json_object_object_add(o, "episodes", json_object_new_int(w->P * w->E));
    json_object_object_add(o, "T", json_object_new_int(w->T));
    json_object_object_add(o, "micro_ticks", json_object_new_int(w->micro_ticks));
    json_object_object_add(o, "state_bits", json_object_new_int(w->state_bits));
    json_object_object_add(o, "reps", json_object_new_int(w->reps));
    json_object_object_add(o, "dispatches", json_object_new_int(w->dispatches));
    json_object_object_add(o, "wall_s", stat_json(&w->wall));
    json_object_object_add(o, "device_s", stat_json(&w->device));
    if (w->kind == VSML_BENCH_ES_STEP && w->rollout.median > 0)
        json_object_object_add(o, "rollout_s", stat_json(&w->rollout));
    json_object_object_add(o, "time_basis", json_object_new_string(dev ? "device" : "wall"));
    json_object_object_add(o, "updates", json_object_new_double(w->cost.updates));
    json_object_object_add(o, "flop_model", json_object_new_double(w->cost.flop_model));
    json_object_object_add(o, "flop_exec", json_object_new_double(w->cost.flop_exec));
    json_object_object_add(o, "bytes", json_object_new_double(w->cost.bytes));
    json_object_object_add(o, "updates_per_s", json_object_new_double(rate(w->cost.updates, s)));
    json_object_object_add(o, "gflops_model",
                           json_object_new_double(rate(w->cost.flop_model, s) * 1e-9));
    json_object_object_add(o, "gflops_exec",
                           json_object_new_double(rate(w->cost.flop_exec, s) * 1e-9));
    json_object_object_add(o, "gbytes_per_s", json_object_new_double(rate(w->cost.bytes, s) * 1e-9));
    json_object_object_add(o, "pct_peak_flops",
                           num_or_null(100.0 * rate(w->cost.flop_exec, s) * 1e-9 /
                                           r->peak.fma_gflops, pk));
    json_object_object_add(o, "pct_peak_bandwidth",
                           num_or_null(100.0 * rate(w->cost.bytes, s) * 1e-9 / r->peak.copy_gbs,
                                       pk));
    json_object *c = json_object_new_object();
    json_object_object_add(c, "episodes", json_object_new_int(w->check_episodes));
    json_object_object_add(c, "steps", json_object_new_int(w->check_steps));
    json_object_object_add(c, "max_rel_err", json_object_new_double(w->check_err));
    json_object_object_add(c, "tol", json_object_new_double(w->check_tol));
    json_object_object_add(o, "check", c);
    json_object *pl = NULL;
    if (w->have_plan) {
        pl = json_object_new_object();
        json_object_object_add(pl, "kernel",
                               json_object_new_string(kernel_name(w->plan.kernel)));
        json_object_object_add(pl, "workgroup_size", json_object_new_int64(w->plan.workgroup_size));
        json_object_object_add(pl, "steps_per_dispatch",
                               json_object_new_int(w->plan.steps_per_dispatch));
        json_object_object_add(pl, "chunks", json_object_new_int(w->plan.chunks));
        json_object_object_add(pl, "split", json_object_new_int(w->plan.split));
    }
    json_object_object_add(o, "plan", pl);
    json_object *p = NULL;
    if (w->peer.ran) {
        p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(w->peer.name));
        json_object_object_add(p, "desc", json_object_new_string(w->peer.desc));
        json_object_object_add(p, "wall_s", stat_json(&w->peer.wall));
        json_object_object_add(p, "updates_per_s",
                               json_object_new_double(rate(w->cost.updates, w->peer.wall.median)));
        json_object_object_add(p, "engine_speedup",
                               json_object_new_double(w->peer.wall.median / w->wall.median));
        json_object_object_add(p, "max_rel_diff", json_object_new_double(w->peer.check_err));
    }
    json_object_object_add(o, "peer", p);
    return o;
}

int vsml_bench_write_json(const char *path, const vsml_bench_report *r)
{
    const vsml_device_info *d = &r->dev;
    json_object *root = json_object_new_object();
    json_object_object_add(root, "schema", json_object_new_string("vsml-bench-1"));
    json_object_object_add(root, "date", json_object_new_string(r->date));
    json_object_object_add(root, "command", json_object_new_string(r->command));
    json_object_object_add(root, "version", json_object_new_string(r->version));
    json_object_object_add(root, "git_rev", json_object_new_string(r->git_rev));
    json_object *dv = json_object_new_object();
    char api[32];
    snprintf(api, sizeof(api), "%u.%u.%u", d->api_version >> 22, (d->api_version >> 12) & 0x3ff,
             d->api_version & 0xfff);
    json_object_object_add(dv, "name", json_object_new_string(d->name));
    json_object_object_add(dv, "type", json_object_new_string(d->type ? d->type : "unknown"));
    json_object_object_add(dv, "vendor_id", json_object_new_int64(d->vendor_id));
    json_object_object_add(dv, "device_id", json_object_new_int64(d->device_id));
    json_object_object_add(dv, "driver_version", json_object_new_int64(d->driver_version));
    json_object_object_add(dv, "api_version", json_object_new_string(api));
    json_object_object_add(dv, "subgroup_size", json_object_new_int64(d->subgroup_size));
    json_object_object_add(dv, "workgroup_size", json_object_new_int64(d->workgroup_size));
    json_object_object_add(dv, "max_storage_buffer_range",
                           json_object_new_int64((int64_t)d->max_storage_range));
    json_object_object_add(dv, "max_shared_memory", json_object_new_int64(d->max_shared_memory));
    json_object_object_add(dv, "timestamps", json_object_new_boolean(d->timestamps));
    json_object_object_add(root, "device", dv);
    json_object *ho = json_object_new_object();
    json_object_object_add(ho, "cpu", json_object_new_string(r->host_cpu));
    json_object_object_add(ho, "cpus", json_object_new_int(r->host_cpus));
    json_object_object_add(root, "host", ho);
    json_object *pk = NULL;
    if (r->have_peak) {
        pk = json_object_new_object();
        json_object_object_add(pk, "fp32_gflops", json_object_new_double(r->peak.fma_gflops));
        json_object_object_add(pk, "bandwidth_gbs", json_object_new_double(r->peak.copy_gbs));
        json_object_object_add(pk, "fma_chains", json_object_new_int(r->peak.fma_chains));
        json_object_object_add(pk, "fma_invocations",
                               json_object_new_int64(r->peak.fma_invocations));
        json_object_object_add(pk, "fma_s", json_object_new_double(r->peak.fma_s));
        json_object_object_add(pk, "copy_bytes", json_object_new_int64(r->peak.copy_bytes));
        json_object_object_add(pk, "copy_s", json_object_new_double(r->peak.copy_s));
        json_object_object_add(pk, "timestamps", json_object_new_boolean(r->peak.timestamps));
    }
    json_object_object_add(root, "peak", pk);
    json_object *arr = json_object_new_array();
    for (int i = 0; i < r->n_results; i++)
        json_object_array_add(arr, workload_json(r, &r->results[i]));
    json_object_object_add(root, "workloads", arr);
    const char *txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    vsml_piece pc[2] = {{txt, strlen(txt)}, {"\n", 1}};
    int rc = vsml_write_pieces_atomic(path, pc, 2);
    json_object_put(root);
    return rc;
}

static double get_num(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NAN;
    enum json_type t = json_object_get_type(v);
    return t == json_type_double || t == json_type_int ? json_object_get_double(v) : NAN;
}

/* An earlier bench JSON file and its workloads array (NULL and one error
 * line if it cannot be read or is not one); json_object_put frees it. */
static json_object *load_old(const char *old_path, json_object **arr)
{
    uint8_t *buf;
    size_t len;
    if (vsml_read_file(old_path, 64u << 20, &buf, &len) != 0)
        return NULL;
    json_tokener *tok = json_tokener_new();
    json_object *old = tok ? json_tokener_parse_ex(tok, (const char *)buf, (int)len) : NULL;
    json_object *sch = NULL;
    if (!old || !json_object_object_get_ex(old, "schema", &sch) ||
        !json_object_is_type(sch, json_type_string) ||
        strcmp(json_object_get_string(sch), "vsml-bench-1") != 0 ||
        !json_object_object_get_ex(old, "workloads", arr) ||
        json_object_get_type(*arr) != json_type_array) {
        vsml_err("%s (--compare) is not a vsml-vk bench JSON file (schema vsml-bench-1)",
                 old_path);
        if (old)
            json_object_put(old);
        old = NULL;
    }
    if (tok)
        json_tokener_free(tok);
    free(buf);
    return old;
}

int vsml_bench_compare_check(const char *old_path)
{
    json_object *arr, *old = load_old(old_path, &arr);
    if (old)
        json_object_put(old);
    return old ? 0 : -1;
}

int vsml_bench_compare(FILE *f, const char *old_path, const vsml_bench_report *r)
{
    json_object *arr = NULL, *old = load_old(old_path, &arr);
    if (!old)
        return -1;
    json_object *od = NULL, *on = NULL, *opk = NULL;
    json_object_object_get_ex(old, "device", &od);
    json_object_object_get_ex(old, "peak", &opk);
    fprintf(f, "\ncompared with %s (%s)\n", old_path,
            od && json_object_object_get_ex(od, "name", &on) ? json_object_get_string(on) : "?");
    /* a CPU device's figures belong to its host */
    json_object *oh = NULL, *ocpu = NULL, *ocpus = NULL;
    if (json_object_object_get_ex(old, "host", &oh) &&
        json_object_object_get_ex(oh, "cpu", &ocpu) &&
        json_object_object_get_ex(oh, "cpus", &ocpus) &&
        json_object_is_type(ocpu, json_type_string) &&
        (strcmp(json_object_get_string(ocpu), r->host_cpu) != 0 ||
         json_object_get_int(ocpus) != r->host_cpus))
        fprintf(f, "  another host: %s, %d CPUs -> %s, %d CPUs\n", json_object_get_string(ocpu),
                json_object_get_int(ocpus), r->host_cpu, r->host_cpus);
    if (r->have_peak && opk)
        fprintf(f, "  peak: %.1f -> %.1f GFLOP/s (%+.1f%%), %.1f -> %.1f GB/s (%+.1f%%)\n",
                get_num(opk, "fp32_gflops"), r->peak.fma_gflops,
                100 * (r->peak.fma_gflops / get_num(opk, "fp32_gflops") - 1),
                get_num(opk, "bandwidth_gbs"), r->peak.copy_gbs,
                100 * (r->peak.copy_gbs / get_num(opk, "bandwidth_gbs") - 1));
    fprintf(f, "  %-18s %12s %12s %9s\n", "workload", "old upd/s", "new upd/s", "change");
    for (int i = 0; i < r->n_results; i++) {
        const vsml_bench_result *w = &r->results[i];
        bool dev;
        double nu = rate(w->cost.updates, basis_s(w, &dev)), ou = NAN, ob = NAN;
        for (size_t j = 0; j < json_object_array_length(arr); j++) {
            json_object *e = json_object_array_get_idx(arr, j), *nm;
            if (json_object_object_get_ex(e, "name", &nm) &&
                !strcmp(json_object_get_string(nm), w->name)) {
                ou = get_num(e, "updates_per_s");
                ob = get_num(e, "state_bits");
            }
        }
        int old_bits = isnan(ob) ? 32 : (int)ob; /* files from before state_bits: 32 */
        if (isnan(ou))
            fprintf(f, "  %-18s %12s %12.4g %9s\n", w->name, "-", nu, "new");
        else if (old_bits != w->state_bits)
            fprintf(f, "  %-18s %12.4g %12.4g %+8.1f%%  (state %d -> %d bits)\n", w->name, ou, nu,
                    100 * (nu / ou - 1), old_bits, w->state_bits);
        else
            fprintf(f, "  %-18s %12.4g %12.4g %+8.1f%%\n", w->name, ou, nu, 100 * (nu / ou - 1));
    }
    json_object_put(old);
    return 0;
}
