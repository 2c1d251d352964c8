#!/bin/sh
# vsml-vk train end to end on a tiny configuration: resume is bitwise
# identical to an uninterrupted run, bad configurations are rejected before
# anything is created, run directories are not clobbered, and kill -9 leaves
# a loadable checkpoint. Usage: test_train.sh VSML_VK SOURCE_ROOT
exe="$1"
root="$2"
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }

. "$(dirname "$0")/tiny_cfg.sh"
tiny_cfg "$tmp/tiny.cfg"
train() { "$exe" train --config "$tmp/tiny.cfg" "$@"; }

# 1. the built-in default is assets/small.cfg
if "$exe" train --print-default | cmp -s - "$root/assets/small.cfg" &&
   "$exe" train --print-config > "$tmp/a.cfg" &&
   "$exe" train --config "$root/assets/small.cfg" --print-config > "$tmp/b.cfg" &&
   cmp -s "$tmp/a.cfg" "$tmp/b.cfg"; then
    ok "built-in default = assets/small.cfg"
else
    fail "built-in default differs from assets/small.cfg"
fi

# 2. 4 steps straight vs 2 steps, then --resume to 4
train --run "$tmp/A" --steps 4 > "$tmp/A.log" 2>&1 || { fail "run A"; cat "$tmp/A.log"; }
train --run "$tmp/B" --steps 2 > "$tmp/B.log" 2>&1 || { fail "run B"; cat "$tmp/B.log"; }
"$exe" train --resume "$tmp/B" --steps 4 > "$tmp/B2.log" 2>&1 || { fail "resume B"; cat "$tmp/B2.log"; }
for s in 1 2 3 4; do
    if cmp -s "$tmp/A/ckpt-$s.safetensors" "$tmp/B/ckpt-$s.safetensors"; then
        ok "checkpoint $s identical after resume"
    else
        fail "checkpoint $s differs between the straight and the resumed run"
    fi
done
if [ "$(wc -l < "$tmp/B/metrics.jsonl")" -eq 4 ] && grep -q eval_accuracy "$tmp/B/metrics.jsonl"; then
    ok "metrics.jsonl has 4 lines with evaluations"
else
    fail "metrics.jsonl"; cat "$tmp/B/metrics.jsonl"
fi
for f in final best ckpt-4; do
    if "$exe" rollout --params "$tmp/A/$f.safetensors" --dataset sumsign --input-dim 4 \
        --layers 4,2 --steps 5 > /dev/null 2>&1; then
        ok "rollout --params reads $f.safetensors"
    else
        fail "rollout --params cannot read $f.safetensors"
    fi
done

# 3. an invalid configuration lists every problem at once and creates nothing
printf 'pairs = -3\nsigma = abc\nfrobnicate = 1\nrank_shaping = maybe\n' > "$tmp/bad.cfg"
"$exe" train --config "$tmp/bad.cfg" --set T=0 --run "$tmp/C" > "$tmp/out" 2> "$tmp/err"
rc=$?
n=$(grep -c '^vsml-vk: error:' "$tmp/err")
if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$n" -eq 1 ] && [ ! -e "$tmp/C" ] &&
   grep -q pairs "$tmp/err" && grep -q sigma "$tmp/err" && grep -q frobnicate "$tmp/err" &&
   grep -q rank_shaping "$tmp/err" && grep -q 'T=0' "$tmp/err"; then
    ok "invalid configuration rejected with all five problems"
else
    fail "invalid configuration (exit $rc, $n error lines)"; cat "$tmp/err"
fi

# 4. an existing run directory is refused without --force
train --run "$tmp/A" --steps 1 > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'already exists' "$tmp/err" && [ -e "$tmp/A/ckpt-4.safetensors" ]; then
    ok "existing run directory refused"
else
    fail "existing run directory was not refused (exit $rc)"; cat "$tmp/err"
fi
if train --run "$tmp/A" --steps 1 --force > "$tmp/out" 2>&1 && [ ! -e "$tmp/A/ckpt-4.safetensors" ] &&
   [ -e "$tmp/A/ckpt-1.safetensors" ]; then
    ok "--force starts over"
else
    fail "--force"; cat "$tmp/out"
fi

# 5. kill -9 while training: the newest checkpoint still loads
"$exe" train --config "$tmp/tiny.cfg" --run "$tmp/K" --steps 100000 > "$tmp/K.log" 2>&1 &
pid=$!
i=0
# wait for a few checkpoints (older ones are pruned, so look for any), and
# let the log grow past the 1 MiB a config file may have: resuming must
# still read it
while ! ls "$tmp/K" 2>/dev/null | grep -q '^ckpt-[0-9]*\.safetensors$' && [ $i -lt 600 ]; do
    sleep 0.2; i=$((i + 1))
done
i=0
while [ "$(wc -c < "$tmp/K/metrics.jsonl" 2>/dev/null || echo 0)" -lt 1200000 ] && [ $i -lt 1200 ]; do
    sleep 0.2; i=$((i + 1))
done
# (the resume of a long log is this case's point: a run too slow to write it
# fails rather than passing without it)
log_bytes=$(wc -c < "$tmp/K/metrics.jsonl" 2>/dev/null || echo 0)
[ "$log_bytes" -ge 1200000 ] ||
    fail "kill -9: the log reached $log_bytes bytes in 240 s, not 1,200,000"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""
newest=$(ls "$tmp/K" | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1)
if [ -n "$newest" ] && "$exe" rollout --params "$tmp/K/ckpt-$newest.safetensors" \
    --dataset sumsign --input-dim 4 --layers 4,2 --steps 5 > /dev/null 2>&1 &&
   "$exe" train --resume "$tmp/K" --steps $((newest + 1)) > "$tmp/K2.log" 2>&1; then
    ok "after kill -9 checkpoint $newest loads and the run resumes"
else
    fail "after kill -9 (newest '$newest')"; cat "$tmp/K.log" "$tmp/K2.log"
fi

# 6. SIGINT finishes the step, checkpoints, exits 0
"$exe" train --config "$tmp/tiny.cfg" --run "$tmp/S" --steps 100000 > "$tmp/S.log" 2>&1 &
pid=$!
i=0
while [ ! -e "$tmp/S/ckpt-1.safetensors" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
kill -INT "$pid"
wait "$pid"
rc=$?
pid=""
if [ "$rc" -eq 0 ] && grep -q interrupted "$tmp/S.log"; then
    ok "SIGINT: checkpoint and exit 0"
else
    fail "SIGINT (exit $rc)"; tail -5 "$tmp/S.log"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
