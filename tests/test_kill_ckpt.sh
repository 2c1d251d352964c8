#!/bin/sh
# kill -9 of a single-process training run at random moments while it
# writes a checkpoint every step, 20 times, each time resuming the run: the
# newest complete checkpoint always loads (resume never skips one), and the
# run ends bitwise identical to one that was never interrupted.
# Usage: test_kill_ckpt.sh VSML_VK [ROUNDS]
exe="$1"
rounds="${2:-20}"
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
cat > "$tmp/tiny.cfg" <<'CFG'
layers = 4,2
input_dim = 4
pairs = 4
pairs_per_task = 2
T = 6
eval_every = 5
eval_episodes = 2
eval_steps = 6
checkpoint_every = 1
keep_checkpoints = 3
CFG
newest() { ls "$1" 2>/dev/null | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1; }
# a pseudo-random delay in [0, 0.4] s from the round number (no $RANDOM in sh)
delay() { echo "0.$(( ($1 * 7919 + 13) % 41 ))" | sed 's/^0\.\([0-9]\)$/0.0\1/'; }

i=1
prev=0
while [ $i -le $rounds ]; do
    if [ $i -eq 1 ]; then
        "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/run" --steps 1000000 > "$tmp/log$i" 2>&1 &
    else
        "$exe" train --resume "$tmp/run" --steps 1000000 > "$tmp/log$i" 2>&1 &
    fi
    pid=$!
    # wait until this process has written a checkpoint of its own
    w=0
    while [ $w -lt 600 ] && [ "$(newest "$tmp/run")" = "$prev" -o -z "$(newest "$tmp/run")" ]; do
        sleep 0.05; w=$((w + 1))
    done
    sleep "$(delay $i)"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=""
    if [ $i -gt 1 ] && ! grep -q "resuming .* from step $prev " "$tmp/log$i"; then
        fail "round $i did not resume from the newest checkpoint $prev"; cat "$tmp/log$i"
    fi
    if grep -q "skipping checkpoint" "$tmp/log$i"; then
        fail "round $i skipped a checkpoint"; cat "$tmp/log$i"
    fi
    prev=$(newest "$tmp/run")
    i=$((i + 1))
done
n=$prev
echo "killed $rounds times; newest checkpoint: step $n"
m=$((n + 1))
"$exe" train --resume "$tmp/run" --steps $m > "$tmp/last" 2>&1 && grep -q "resuming .* from step $n " "$tmp/last" &&
    ok "the newest checkpoint ($n) loads after $rounds kills" || { fail "final resume"; cat "$tmp/last"; }
"$exe" train --config "$tmp/tiny.cfg" --run "$tmp/ref" --steps $m > "$tmp/ref.log" 2>&1 ||
    { fail "uninterrupted run"; cat "$tmp/ref.log"; }
cmp -s "$tmp/run/ckpt-$m.safetensors" "$tmp/ref/ckpt-$m.safetensors" &&
    ok "checkpoint $m identical to an uninterrupted run" || fail "checkpoint $m differs from an uninterrupted run"
[ "$(ls "$tmp/run" | grep -c '\.tmp\.')" -eq 0 ] && ok "no temporary files left after resume" ||
    { fail "temporary files left"; ls "$tmp/run"; }
[ "$(wc -l < "$tmp/run/metrics.jsonl")" -eq $m ] && ok "metrics.jsonl has one line per step ($m)" ||
    fail "metrics.jsonl has $(wc -l < "$tmp/run/metrics.jsonl") lines, expected $m"
[ $fails -eq 0 ] && echo "all passed" || echo "$fails failure(s)"
[ $fails -eq 0 ]
