#!/bin/sh
# kill -9 of a single-process training run at random moments while it
# writes a checkpoint every step, 20 times (two runs side by side, 10 kills
# each), each time resuming the run: the newest complete checkpoint always
# loads (resume never skips one), and each run ends bitwise identical to one
# that was never interrupted. Usage: test_kill_ckpt.sh VSML_VK [KILLS_PER_RUN]
exe="$1"
rounds="${2:-10}"
tmp=$(mktemp -d)
trap 'for p in $(cat "$tmp"/pid.* 2>/dev/null); do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/tiny_cfg.sh"
tiny_cfg "$tmp/tiny.cfg" eval_every=5 keep_checkpoints=3
newest() { ls "$1" 2>/dev/null | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1; }
# a pseudo-random delay in [0, 0.4] s (no $RANDOM in sh)
delay() { echo "0.$(( ($1 * 7919 + 13) % 41 ))" | sed 's/^0\.\([0-9]\)$/0.0\1/'; }

# chain NAME SEED_OFFSET: `rounds` kills of the run in $tmp/NAME; prints
# ok:/FAIL: lines
chain() {
    run="$tmp/$1"
    i=1
    prev=0
    torn=0
    while [ $i -le $rounds ]; do
        if [ $i -eq 1 ]; then
            "$exe" train --config "$tmp/tiny.cfg" --run "$run" --steps 1000000 > "$run.log$i" 2>&1 &
        else
            "$exe" train --resume "$run" --steps 1000000 > "$run.log$i" 2>&1 &
        fi
        pid=$!
        echo $pid > "$tmp/pid.$1"
        # wait until this process has written a checkpoint of its own
        w=0
        while [ $w -lt 1200 ] && [ "$(newest "$run")" = "$prev" -o -z "$(newest "$run")" ]; do
            sleep 0.05; w=$((w + 1))
        done
        sleep "$(delay $((i + $2)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        if [ $i -gt 1 ] && ! grep -q "resuming .* from step $prev " "$run.log$i"; then
            echo "FAIL: $1 round $i did not resume from the newest checkpoint $prev"; cat "$run.log$i"
        fi
        if grep -q "skipping checkpoint" "$run.log$i"; then
            echo "FAIL: $1 round $i skipped a checkpoint"; cat "$run.log$i"
        fi
        prev=$(newest "$run")
        torn=$((torn + $(ls "$run" | grep -c '\.tmp\.[0-9]*\.[0-9]*$')))
        i=$((i + 1))
    done
    rm -f "$tmp/pid.$1"
    echo "info: $1: $torn of $rounds kills left a half-written file behind"
    n=$prev
    m=$((n + 1))
    touch "$run/notes.tmp.txt" # a user's file that looks temporary stays
    "$exe" train --resume "$run" --steps $m > "$run.last" 2>&1 && grep -q "resuming .* from step $n " "$run.last" &&
        echo "ok: $1: the newest checkpoint ($n) loads after $rounds kills" ||
        { echo "FAIL: $1: final resume"; cat "$run.last"; }
    "$exe" train --config "$tmp/tiny.cfg" --run "$run.ref" --steps $m > "$run.ref.log" 2>&1 ||
        { echo "FAIL: $1: uninterrupted run"; cat "$run.ref.log"; }
    cmp -s "$run/ckpt-$m.safetensors" "$run.ref/ckpt-$m.safetensors" &&
        echo "ok: $1: checkpoint $m identical to an uninterrupted run" ||
        echo "FAIL: $1: checkpoint $m differs from an uninterrupted run"
    [ "$(ls "$run" | grep -c '\.tmp\.[0-9]*\.[0-9]*$')" -eq 0 ] && [ -e "$run/notes.tmp.txt" ] &&
        echo "ok: $1: temporary files of killed writes removed, notes.tmp.txt kept" ||
        { echo "FAIL: $1: temporary files"; ls "$run"; }
    [ "$(wc -l < "$run/metrics.jsonl")" -eq $m ] && echo "ok: $1: metrics.jsonl has one line per step ($m)" ||
        echo "FAIL: $1: metrics.jsonl has $(wc -l < "$run/metrics.jsonl") lines, expected $m"
}

chain a 0 > "$tmp/a.out" 2>&1 &
pa=$!
chain b 5 > "$tmp/b.out" 2>&1 &
pb=$!
wait $pa
wait $pb
cat "$tmp/a.out" "$tmp/b.out"
n=$(grep -c '^ok:' "$tmp/a.out" "$tmp/b.out" | awk -F: '{s += $2} END {print s}')
f=$(cat "$tmp/a.out" "$tmp/b.out" | grep -c '^FAIL')
[ "$f" -eq 0 ] && [ "$n" -eq 8 ] && echo "all passed ($((2 * rounds)) kills)" || echo "$f failure(s), $n of 8 checks ok"
[ "$f" -eq 0 ] && [ "$n" -eq 8 ]
