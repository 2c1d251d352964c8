#!/bin/sh
# The PyTorch peer (bench/peers/vsml_torch.py) and the engine agree on a
# small shared workload (784x10 and a deep network, zero initial states):
# vsml-vk bench --peer torch compares every episode's logits of the check
# steps to 2e-4 (each is within 1e-4 of the double reference) and fails when
# the peer's logits are perturbed (VSML_PEER_INJECT_ERROR=1). Skipped (77)
# where no python3 with torch is installed (Debian: python3-torch).
# Usage: test_bench_peer.sh VSML_VK SOURCE_ROOT
exe="$1"
root="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
py=""
for c in "${VSML_PYTHON:-}" /usr/bin/python3 python3; do
    if [ -n "$c" ] && "$c" -c 'import torch, numpy' 2>/dev/null; then
        py="$c"
        break
    fi
done
if [ -z "$py" ]; then
    echo "no python3 with torch and numpy: skipping"
    exit 77
fi
echo "peer python: $py"

if "$exe" bench --quick --reps 1 --no-peak --only rollout,deep --pop 2 --peer torch \
    --peer-device cpu --python "$py" --json "$tmp/p.json" > "$tmp/p.out" 2>&1; then
    ok "bench --peer torch"
else
    fail "bench --peer torch failed"
fi
cat "$tmp/p.out"
if python3 "$root/tests/bench_schema_check.py" "$root/bench/schema.json" "$tmp/p.json" &&
    python3 - "$tmp/p.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert [w["name"] for w in d["workloads"]] == ["rollout-P2", "deep-P2"]
for w in d["workloads"]:
    p = w["peer"]
    assert p is not None and p["name"] == "torch" and "torch" in p["desc"], w
    assert 0 <= p["max_rel_diff"] <= 2e-4, p
    assert p["updates_per_s"] > 0 and p["engine_speedup"] > 0, p
    print(w["name"], p["desc"], "max rel diff %.2e" % p["max_rel_diff"])
PY
then ok "peer and engine agree; JSON valid"; else fail "peer results"; fi

if VSML_PEER_INJECT_ERROR=1 "$exe" bench --quick --reps 1 --no-peak --only rollout --pop 1 \
    --peer torch --peer-device cpu --python "$py" > "$tmp/q.out" 2>&1; then
    cat "$tmp/q.out"; fail "a perturbed peer result passed"
elif grep -q "the peer (torch) and the engine disagree" "$tmp/q.out"; then
    ok "a perturbed peer result fails the bench"
else
    cat "$tmp/q.out"; fail "the peer comparison failed without its message"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
