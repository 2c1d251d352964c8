#!/bin/sh
# vsml-vk bench end to end on lavapipe-sized workloads: the JSON output
# validates against bench/schema.json, every workload passed its check
# against the CPU reference, --compare reads it back, and a deliberately
# wrong device result (VSML_BENCH_INJECT_ERROR=1) fails the benchmark with
# one clear error and writes no JSON. Usage: test_bench.sh VSML_VK SOURCE_ROOT
exe="$1"
root="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
py=python3

# 1. a quick run of every workload group, with the peak microbenchmark
if "$exe" bench --quick --reps 2 --json "$tmp/a.json" > "$tmp/a.out" 2>&1; then
    ok "bench --quick"
else
    cat "$tmp/a.out"; fail "bench --quick failed"
fi
cat "$tmp/a.out"
# each workload's figures as soon as it is measured, before the table
n=$(grep -c -E '^  (rollout|deep|es)-[A-Za-z0-9]+: [0-9.e+]+ sub-LSTM updates/s' "$tmp/a.out")
[ "$n" -eq 4 ] && ok "a line per workload as it ends" || fail "$n per-workload lines, not 4"
if $py "$root/tests/bench_schema_check.py" "$root/bench/schema.json" "$tmp/a.json"; then
    ok "the JSON validates against bench/schema.json"
else
    fail "schema violations"
fi
if $py - "$tmp/a.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [w["name"] for w in d["workloads"]]
assert names == ["rollout-P1", "rollout-P2", "deep-P2", "es-small"], names
assert d["peak"]["fp32_gflops"] > 0 and d["peak"]["bandwidth_gbs"] > 0
for w in d["workloads"]:
    c = w["check"]
    assert 0 <= c["max_rel_err"] <= c["tol"] == 1e-4, w
    # the figures are the cost model over the measured time
    t = w["device_s"]["median"] if w["time_basis"] == "device" else w["wall_s"]["median"]
    assert abs(w["updates_per_s"] * t / w["updates"] - 1) < 1e-9, w
    assert w["wall_s"]["min"] <= w["wall_s"]["median"] <= w["wall_s"]["max"], w
    assert (w["plan"] is None) == (w["kind"] == "es_step"), w
    # an ES step's rollout is part of its wall time
    assert ("rollout_s" in w) == (w["kind"] == "es_step"), w
    if "rollout_s" in w:
        assert 0 < w["rollout_s"]["median"] < w["wall_s"]["median"], w
assert d["workloads"][0]["updates"] == 1 * 2 * 784 * 10 * 2  # R T A B m
# the host: its online CPUs and, on Linux, /proc/cpuinfo's model
import os
assert d["host"]["cpus"] == os.cpu_count(), d["host"]
models = [l.split(":", 1)[1].strip(" \t\r\n") for l in open("/proc/cpuinfo")
          if l.startswith("model name")]
assert d["host"]["cpu"] == (models[0][:127] if models else ""), d["host"]
print("contents ok")
PY
then ok "JSON contents"; else fail "JSON contents"; fi

# 2. --compare reads the earlier file back
if "$exe" bench --quick --reps 1 --no-peak --only es --compare "$tmp/a.json" > "$tmp/c.out" 2>&1 &&
    grep -q "compared with" "$tmp/c.out" && grep -E -q "es-small +[0-9.e+]+ +[0-9.e+]+ +[-+][0-9.]+%" "$tmp/c.out" &&
    ! grep -q "another host" "$tmp/c.out"; then
    ok "--compare"
else
    cat "$tmp/c.out"; fail "--compare"
fi

# a file from another host says so
$py -c "
import json, sys
d = json.load(open(sys.argv[1])); d['host'] = {'cpu': 'Some Other CPU 9000', 'cpus': 64}
json.dump(d, open(sys.argv[2], 'w'))" "$tmp/a.json" "$tmp/other-host.json"
if "$exe" bench --quick --reps 1 --no-peak --only es --compare "$tmp/other-host.json" > "$tmp/c2.out" 2>&1 &&
    grep -q "another host: Some Other CPU 9000, 64 CPUs -> " "$tmp/c2.out"; then
    ok "--compare names another host"
else
    cat "$tmp/c2.out"; fail "--compare with a file from another host"
fi

# 3. the correctness gate: a perturbed device result fails the bench
for grp in rollout es; do
    if VSML_BENCH_INJECT_ERROR=1 "$exe" bench --quick --reps 1 --no-peak --only $grp --pop 1 \
        --json "$tmp/bad.json" > "$tmp/g.out" 2>&1; then
        cat "$tmp/g.out"; fail "a perturbed $grp result passed the check"
    elif grep -q "disagrees with the CPU reference" "$tmp/g.out" && [ ! -e "$tmp/bad.json" ]; then
        ok "a perturbed $grp result fails the bench"
    else
        cat "$tmp/g.out"; fail "the $grp gate failed without its message or wrote JSON"
    fi
done

# 4. bad options: one error line, non-zero exit, nothing run (no workload
#    started: a file --compare cannot use or a --json path that cannot be
#    written fails before the workloads, not after them)
#    (a 16-bit state: the peer keeps 32 bits, the cpu kernel has none)
echo '{"schema": "something-else", "workloads": []}' > "$tmp/other.json"
for args in "--pop 0" "--pop 4,x" "--only rollouts" "--compare $tmp/none.json" "--peer jax" \
    "--reps 0" "--peer torch --state-fp16" "--kernel cpu --state-fp16 --only rollout" \
    "--compare $tmp/other.json" "--json $tmp/no/such/dir/x.json" "--json $tmp" \
    "--json $tmp/a.json" "--compare $tmp/a.json --json $tmp/a.json --force"; do
    if "$exe" bench --no-peak $args > "$tmp/e.out" 2>&1; then
        fail "bench $args succeeded"
    elif grep -q -E "episodes x|pairs x" "$tmp/e.out"; then
        cat "$tmp/e.out"; fail "bench $args: workloads ran before the error"
    elif [ "$(grep -c 'error' "$tmp/e.out")" -eq 1 ]; then
        ok "bench $args: $(cat "$tmp/e.out")"
    else
        cat "$tmp/e.out"; fail "bench $args: not exactly one error line"
    fi
done
# the largest --pop (2^20 members: 10 GB of parameters on the host) is
# refused by the device's limits before the host's inputs are made (it once
# filled them for minutes first)
if "$exe" bench --quick --no-peak --reps 1 --only rollout --pop 1048576 \
        --json "$tmp/big.json" > "$tmp/e.out" 2>&1; then
    fail "bench --pop 1048576 succeeded"
elif [ "$(grep -c 'error' "$tmp/e.out")" -ne 1 ] || [ -e "$tmp/big.json" ] ||
     ! grep -q "needs .* MiB\|needs .* GiB" "$tmp/e.out"; then
    cat "$tmp/e.out"; fail "bench --pop 1048576: not one error naming the size, or JSON written"
else
    ok "bench --pop 1048576: $(grep error "$tmp/e.out")"
fi
# a refused kernel stops the bench before the peak microbenchmark
if "$exe" bench --kernel cpu --state-fp16 --only rollout > "$tmp/e.out" 2>&1; then
    fail "bench --kernel cpu --state-fp16 succeeded"
elif grep -q "^peak:" "$tmp/e.out" || [ "$(grep -c 'error' "$tmp/e.out")" -ne 1 ]; then
    cat "$tmp/e.out"; fail "bench --kernel cpu --state-fp16: the peak ran, or not one error line"
else
    ok "bench --kernel cpu --state-fp16 stops before the peak"
fi
# 5. a 16-bit state: the parallel kernel, checked against the reference's
#    16-bit state, half the state's bytes
if "$exe" bench --quick --reps 1 --no-peak --state-fp16 --json "$tmp/h.json" > "$tmp/h.out" 2>&1 &&
    grep -q "all workloads store h and c as 16-bit floats" "$tmp/h.out" &&
    { [ "$(grep -c 'warning: the 16-bit state runs on the parallel kernel' "$tmp/h.out")" -eq 1 ] ||
      ! grep -q "(CPU," "$tmp/h.out"; }; then
    ok "bench --state-fp16"
else
    cat "$tmp/h.out"; fail "bench --state-fp16"
fi
if $py "$root/tests/bench_schema_check.py" "$root/bench/schema.json" "$tmp/h.json" &&
    $py - "$tmp/a.json" "$tmp/h.json" <<'PY'
import json, sys
a = {w["name"]: w for w in json.load(open(sys.argv[1]))["workloads"]}
h = {w["name"]: w for w in json.load(open(sys.argv[2]))["workloads"]}
assert sorted(a) == sorted(h), (sorted(a), sorted(h))
for n, w in h.items():
    assert w["state_bits"] == 16 and a[n]["state_bits"] == 32, n
    assert 0 <= w["check"]["max_rel_err"] <= w["check"]["tol"] == 2e-3, w
    assert w["plan"] is None or w["plan"]["kernel"] == "parallel", w
# bytes (bench/schema.json): the state part R T s sum A B 2N b 2 at b = 2 is
# half of it at b = 4; rollout-P1 of --quick: 1 episode, 2 steps, 784x10, N 16
d = a["rollout-P1"]["bytes"] - h["rollout-P1"]["bytes"]
assert d == 1 * 2 * 784 * 10 * 2 * 16 * 2 * 2, d
print("16-bit state JSON ok")
PY
then ok "--state-fp16 JSON"; else fail "--state-fp16 JSON"; fi
# --compare says when the state's width changed (a.json: 32 bits)
if "$exe" bench --quick --reps 1 --no-peak --only es --state-fp16 --compare "$tmp/a.json" \
    > "$tmp/hc.out" 2>&1 && grep -E -q "es-small .*\(state 32 -> 16 bits\)" "$tmp/hc.out"; then
    ok "--compare with another state width"
else
    cat "$tmp/hc.out"; fail "--compare with another state width"
fi
if VSML_BENCH_INJECT_ERROR=1 "$exe" bench --quick --reps 1 --no-peak --only rollout --pop 1 \
    --state-fp16 > "$tmp/hg.out" 2>&1; then
    cat "$tmp/hg.out"; fail "a perturbed 16-bit-state result passed the check"
elif grep -q "disagrees with the CPU reference" "$tmp/hg.out"; then
    ok "a perturbed 16-bit-state result fails the bench"
else
    cat "$tmp/hg.out"; fail "the 16-bit-state gate failed without its message"
fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
