#!/bin/bash
# The GPU checks, as one script for a short lease of a GPU machine (see
# tools/device-pack.sh, which prepares .dev/ here first):
#
#   1. the Vulkan devices (vsml-vk devices) and the driver's ICD;
#   2. the device tests against the CPU reference (test_engine_ref,
#      test_engine_pop, test_es, test_state_f16);
#   3. vsml-vk bench: the peak, the rollouts and the deep configuration with
#      the PyTorch peer on CUDA, then the ES steps (es-small and the paper's
#      es-paper) in a second run, so that a slow ES step cannot cost the
#      rollout figures;
#   4. the rollouts and ES steps again with a 16-bit state (--state-fp16),
#      without the peer;
#   5. a short vsml-vk train (20 ES steps of the built-in configuration).
#
# Every stage has its own time limit and writes under $OUT (default
# ./device-out) six files, within what the device tool brings back:
# summary.txt (a line per stage with its exit status and seconds, and its
# last lines), stages.log (every stage's output), bench-rollout.json,
# bench-es.json, bench-f16.json and train-metrics.jsonl. Exits 1 if any stage failed.
# DEVICE_CHECK_QUICK=1 runs tiny workloads (a dry run on any machine, e.g.
# lavapipe; the peer only where PYTHON imports torch); PYTHON picks the
# interpreter of the peer (default python3); DEVICE_DIR the packed
# directory (default .dev).
set -u
cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
rm -rf "$OUT/run" "$OUT/summary.txt" "$OUT/stages.log" "$OUT/bench-rollout.json" \
    "$OUT/bench-es.json" "$OUT/bench-f16.json" "$OUT/train-metrics.jsonl"
D=${DEVICE_DIR:-$PWD/.dev}
if [ ! -x "$D/bin/vsml-vk" ]; then
    echo "device-check: no $D/bin/vsml-vk: run tools/device-pack.sh first and carry .dev" >&2
    exit 2
fi
# The binaries find their own libraries in $D/lib (their RUNPATH), so
# nothing else sees those. The Vulkan loader, where the machine has none,
# is unpacked under $D/root, not into /.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    for f in "$D"/deb/*.deb; do
        [ -e "$f" ] && dpkg -x "$f" "$D/root"
    done
    export LD_LIBRARY_PATH="$D/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NV_ICD" ]; then
    export VK_DRIVER_FILES=$NV_ICD VK_ICD_FILENAMES=$NV_ICD # the older loaders' name
fi
PY=${PYTHON:-python3}
QUICK=${DEVICE_CHECK_QUICK:-0}
BIN=$D/bin
SUM=$OUT/summary.txt
LOG=$OUT/stages.log
: > "$LOG"
echo "revision $(tr '\n' ' ' < "$D/REVISION" 2>/dev/null) date $(date -u +%FT%TZ)" > "$SUM"

# stage NAME LIMIT_S COMMAND...: runs it (SIGKILL 5 s after the limit's
# SIGTERM), its output straight into stages.log, so that a stage that hangs
# until the whole run is killed still leaves what it printed
failed=0
stage() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS start
    echo "$name: started (limit $limit s)" >> "$SUM"
    echo "==== $name: $*" >> "$LOG"
    start=$(($(stat -c %s "$LOG") + 1))
    timeout -k 5 "$limit" "$@" >> "$LOG" 2>&1
    local rc=$?
    printf '%-14s rc %3d  %4d s\n' "$name" "$rc" $((SECONDS - t0)) >> "$SUM"
    # the bench's results (as each workload ends, and the table) and
    # errors, else the last lines
    tail -c "+$start" "$LOG" > "$OUT/.stage"
    { grep -E '^ *(rollout|deep|es)-[A-Za-z0-9]+(: [0-9.e+]+ sub-LSTM| +[0-9])|^device:|measured peak|error:' \
        "$OUT/.stage" || tail -n 3 "$OUT/.stage"; } | head -n 20 | sed "s/^/  $name: /" >> "$SUM"
    rm -f "$OUT/.stage"
    [ $rc -eq 0 ] || failed=$((failed + 1))
    return $rc
}

# the PyTorch peer where the interpreter has torch (else the bench alone)
peer_dev=cuda
[ "$QUICK" = 1 ] && peer_dev=cpu
peer=(--python "$PY" --peer-script bench/peers/vsml_torch.py)
if "$PY" -c 'import torch, numpy' 2>/dev/null; then
    peer+=(--peer torch --peer-device "$peer_dev")
else
    echo "no PyTorch peer: $PY cannot import torch and numpy" >> "$SUM"
fi

stage devices 20 "$BIN/vsml-vk" devices
if [ "$QUICK" = 1 ]; then
    # limits that add up to 360 s (the test device_check allows 400)
    stage test_es 60 "$BIN/test_es"
    stage bench-rollout 120 "$BIN/vsml-vk" bench --quick --only rollout,deep "${peer[@]}" \
        --json "$OUT/bench-rollout.json"
    stage bench-es 60 "$BIN/vsml-vk" bench --quick --only es --no-peak --reps 1 \
        --json "$OUT/bench-es.json"
    stage bench-f16 40 "$BIN/vsml-vk" bench --quick --only rollout,es --pop 2 --no-peak \
        --reps 1 --check-steps 1 --state-fp16 --json "$OUT/bench-f16.json"
    stage train 60 "$BIN/vsml-vk" train --steps 3 --set eval_every=1000 --run "$OUT/run"
else
    # limits that add up to 585 s: run it with the device tool's timeout_s 600
    stage test_engine_ref 100 "$BIN/test_engine_ref"
    stage test_engine_pop 60 "$BIN/test_engine_pop"
    stage test_state_f16 20 "$BIN/test_state_f16" assets
    stage test_es 40 "$BIN/test_es"
    stage bench-rollout 150 "$BIN/vsml-vk" bench --only rollout,deep "${peer[@]}" \
        --json "$OUT/bench-rollout.json"
    stage bench-es 95 "$BIN/vsml-vk" bench --only es --no-peak --reps 2 \
        --json "$OUT/bench-es.json"
    # the paper's layer at 2,048 episodes and the ES steps, 16-bit state
    stage bench-f16 60 "$BIN/vsml-vk" bench --only rollout,es --pop 2048 --no-peak --reps 1 \
        --check-steps 1 --state-fp16 --json "$OUT/bench-f16.json"
    stage train 40 "$BIN/vsml-vk" train --steps 20 --set eval_every=10 --run "$OUT/run"
fi
cp "$OUT/run/metrics.jsonl" "$OUT/train-metrics.jsonl" 2>/dev/null
rm -rf "$OUT/run"
echo "$failed stage(s) failed" >> "$SUM"
cat "$SUM"
exit $((failed > 0))
