#!/bin/sh
# Device and numeric failures of vsml-vk train, real and injected
# (VSML_FAULT, src/vk/vk.c and src/es/trainer.c), and bad run directories
# (a changed key on --resume, torn checkpoints, a file in the way, eval
# tables beyond the host): each ends with exactly one "vsml-vk: error:"
# line and a non-zero exit (no crash, no hang), a run directory appears only
# once the device works, and a run that fails mid-way keeps loadable
# checkpoints. Non-finite fitness is skipped or stops as configured,
# reported with the step and the pair.
# Usage: test_faults.sh VSML_VK
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
. "$(dirname "$0")/tiny_cfg.sh"
tiny_cfg "$tmp/tiny.cfg"

# expect_fail NAME PATTERN [env ...] vsml-vk train ...: one error line
# matching PATTERN, exit in 1..127
expect_fail() {
    name="$1"; pat="$2"; shift 2
    timeout 60 "$@" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    n=$(grep -c '^vsml-vk: error:' "$tmp/err")
    if [ $rc -eq 0 ] || [ $rc -ge 124 ] || [ "$n" -ne 1 ] || ! grep -q "$pat" "$tmp/err" ||
       grep -qE 'Sanitizer|runtime error|Segmentation' "$tmp/err"; then
        fail "$name (exit $rc, $n error lines)"; cat "$tmp/err"
    else
        ok "$name (exit $rc): $(grep '^vsml-vk: error:' "$tmp/err")"
    fi
}
train() { "$exe" train --config "$tmp/tiny.cfg" "$@"; }
absent() { [ ! -e "$1" ] && ok "$2: no run directory" || { fail "$2: $1 was created"; ls "$1"; }; }

expect_fail "no Vulkan driver" "no Vulkan driver found" env VK_ICD_FILENAMES=/nonexistent \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/nodev" --steps 2
absent "$tmp/nodev" "no Vulkan driver"
expect_fail "device memory allocation fails" "VK_ERROR_OUT_OF_DEVICE_MEMORY" env VSML_FAULT=oom \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/oom" --steps 2
absent "$tmp/oom" "allocation fails"
expect_fail "absurd population" "needs .* GiB of device memory" "$exe" train --config "$tmp/tiny.cfg" \
    --set layers=256,256 --set input_dim=256 --set pairs=6000 --set pairs_per_task=1 --set T=1 \
    --run "$tmp/huge" --steps 1
absent "$tmp/huge" "absurd population"
expect_fail "missing layer/extension" "validation was requested but" env VSML_FAULT=no_extension \
    "$exe" train --config "$tmp/tiny.cfg" --validation --run "$tmp/noext" --steps 2
absent "$tmp/noext" "missing extension"

expect_fail "device lost mid-run" "VK_ERROR_DEVICE_LOST" env VSML_FAULT=device_lost@12 \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/lost" --steps 20
n=$(ls "$tmp/lost" | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1)
[ -n "$n" ] && [ "$n" -lt 20 ] && train --resume "$tmp/lost" --steps $((n + 1)) > "$tmp/res" 2>&1 &&
    grep -q "from step $n " "$tmp/res" && ok "device lost after checkpoint $n: resumes" ||
    { fail "resume after device lost (newest '$n')"; cat "$tmp/res"; }

t0=$(date +%s)
expect_fail "device never finishes" "did not finish the submitted work within 2 s" \
    env VSML_FAULT=hang@12 VSML_FENCE_TIMEOUT_S=2 "$exe" train --config "$tmp/tiny.cfg" \
    --run "$tmp/hang" --steps 20
t=$(( $(date +%s) - t0 ))
[ $t -lt 40 ] && ok "a stuck device ends the run in $t s" || fail "a stuck device took $t s"

# a real timeout, the work still pending on the device: the objects it uses
# are left alone at exit (destroying them was three validation errors more)
expect_fail "work still pending at the timeout" "did not finish the submitted work within 0.001 s" \
    env VSML_FENCE_TIMEOUT_S=0.001 "$exe" rollout --dataset random --input-dim 4 --layers 4,10 \
    --steps 3000 --kernel serial

# non-finite fitness: skipped with the step and the pair, or stop
train --run "$tmp/nan" --steps 3 > "$tmp/nan.out" 2> "$tmp/nan.err"
rc=$?
if VSML_FAULT=nan@3 train --run "$tmp/nanskip" --steps 3 > "$tmp/out" 2> "$tmp/err" &&
   [ "$(grep -c 'warning: step [0-2]: non-finite fitness in 1 pair(s), first pair 3; update skipped' "$tmp/err")" -eq 3 ] &&
   [ "$(grep -c '"grad_norm":0,.*"nonfinite_pairs":1' "$tmp/nanskip/metrics.jsonl")" -eq 3 ] &&
   [ $rc -eq 0 ] && ! grep -q '"nonfinite_pairs":[1-9]' "$tmp/nan/metrics.jsonl"; then
    ok "NaN fitness of pair 3: 3 steps skipped with step and pair"
else
    fail "NaN fitness, skip"; cat "$tmp/err" "$tmp/nanskip/metrics.jsonl"
fi
expect_fail "NaN fitness, on_nonfinite = stop" "step 0: non-finite fitness in 1 pair(s), first pair 3; stopping" \
    env VSML_FAULT=nan@3 "$exe" train --config "$tmp/tiny.cfg" --set on_nonfinite=stop \
    --run "$tmp/nanstop" --steps 3

# --resume with a key that changes the trajectory: one error naming the key
# and both values; the run directory stays as it was. Keys outside the
# configuration hash (steps, eval_every, bookkeeping) may change.
"$exe" train --config "$tmp/tiny.cfg" --run "$tmp/cfg" --steps 2 --set T=5 > /dev/null 2>&1 ||
    fail "a run with T = 5"
cp "$tmp/cfg/config.cfg" "$tmp/cfg.before"
expect_fail "T changed on --resume" "resume .*cfg: T cannot change (the run has T = 5; now T = 6)" \
    "$exe" train --resume "$tmp/cfg" --steps 3 --set T=6
cmp -s "$tmp/cfg/config.cfg" "$tmp/cfg.before" && [ -e "$tmp/cfg/ckpt-2.safetensors" ] &&
    ok "T changed on --resume: the run directory is unchanged" ||
    fail "T changed on --resume: the run directory changed"
cp -r "$tmp/cfg" "$tmp/cfg2"
"$exe" train --resume "$tmp/cfg2" --steps 3 --set eval_every=1 --set keep_checkpoints=4 \
    > "$tmp/out" 2>&1 && grep -q "from step 2 " "$tmp/out" &&
    ok "eval_every and keep_checkpoints change on --resume" ||
    { fail "eval_every and keep_checkpoints on --resume"; cat "$tmp/out"; }

# corrupt checkpoints on --resume: a warning for each one skipped (file and
# why), no error while an older one loads, one error when none does
cp -r "$tmp/cfg" "$tmp/torn"
truncate -s 100 "$tmp/torn/ckpt-2.safetensors"
"$exe" train --resume "$tmp/torn" --steps 3 > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^vsml-vk: error:' "$tmp/err")" -eq 0 ] &&
   grep -q '^vsml-vk: warning: skipping checkpoint .*torn/ckpt-2.safetensors: header length' "$tmp/err" &&
   grep -q "from step 1 " "$tmp/out"; then
    ok "a torn newest checkpoint: $(cat "$tmp/err"); resumes from step 1"
else
    fail "a torn newest checkpoint (exit $rc)"; cat "$tmp/out" "$tmp/err"
fi
cp -r "$tmp/cfg" "$tmp/torn2"
for f in "$tmp"/torn2/ckpt-*.safetensors; do truncate -s 100 "$f"; done
expect_fail "every checkpoint torn" "no loadable checkpoint in .*torn2 (2 " \
    "$exe" train --resume "$tmp/torn2" --steps 3
[ "$(grep -c '^vsml-vk: warning: skipping checkpoint .*: header length' "$tmp/err")" -eq 2 ] &&
    ok "every checkpoint torn: a warning for each" || { fail "every checkpoint torn: warnings"; cat "$tmp/err"; }

# held-out episodes too large for the host: rejected before any allocation,
# naming eval_episodes and eval_steps (and the bytes when they can be indexed)
expect_fail "eval episodes beyond the task data" \
    "held-out episodes (eval_episodes = 1048576 x eval_steps = 1000000) have" \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/bigeval" --steps 1 \
    --set eval_episodes=1048576 --set eval_steps=1000000
absent "$tmp/bigeval" "eval episodes beyond the task data"
expect_fail "eval episodes beyond the host memory" \
    "eval_episodes = 1048576 x eval_steps = 2047 x input_dim = 1024) need .* TiB of host memory" \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/bigeval" --steps 1 --set layers=1024,2 \
    --set input_dim=1024 --set eval_episodes=1048576 --set eval_steps=2047
absent "$tmp/bigeval" "eval episodes beyond the host memory"

# a regular file where the run directory should be: one error, for --run,
# --resume and --force alike, and the file stays
echo "not a run" > "$tmp/afile"
expect_fail "--run names a file" "afile exists and is not a directory" \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/afile" --steps 1
expect_fail "--resume names a file" "afile exists and is not a directory" \
    "$exe" train --resume "$tmp/afile" --steps 1
expect_fail "--force names a file" "afile exists and is not a directory" \
    "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/afile" --force --steps 1
[ "$(cat "$tmp/afile")" = "not a run" ] && ok "--force left the file alone" ||
    fail "--force changed $tmp/afile"

# a device at the spec's minimum texel buffer size (65536): the serial and
# cpu kernels read through texel views, so a forced kernel that does not fit
# is one error, and the automatic choice falls back to the parallel kernel
expect_fail "serial kernel beyond the texel limit" "serial kernel cannot run this population" \
    env VSML_FAULT=small_texels "$exe" rollout --kernel serial --dataset random \
    --input-dim 784 --layers 784,10 --steps 2
expect_fail "cpu kernel beyond the texel limit" "cpu kernel cannot run this network" \
    env VSML_FAULT=small_texels "$exe" rollout --kernel cpu --dataset random \
    --input-dim 784 --layers 784,20,10 --steps 2
# the spec's minimum of shared memory (16 KiB): the cpu kernel keeps 64
# bytes per invocation, so at most 248 invocations (it once asked for a
# workgroup of 256 with 16,396 bytes, a validation error on such a device)
expect_fail "cpu kernel beyond the shared memory" "cpu kernel cannot run this network" \
    env VSML_FAULT=small_shared "$exe" rollout --kernel cpu --dataset random \
    --input-dim 4 --layers 4,250,10 --steps 2
expect_fail "cpu kernel workgroup beyond the shared memory" "runs at most 248 invocations" \
    env VSML_FAULT=small_shared "$exe" rollout --kernel cpu --dataset random \
    --input-dim 4 --layers 4,10 --steps 2 --workgroup-size 256
# falls_back NAME FAULT LAYERS: with the fault, the automatic kernel choice
# runs the parallel kernel and matches the CPU reference
falls_back() {
    VSML_FAULT=$2 timeout 600 "$exe" -v rollout --dataset random --input-dim 784 \
        --layers "$3" --steps 2 --reference > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    local err
    err=$(sed -n 's/^device vs reference: max logit error \([^ ]*\) .*/\1/p' "$tmp/out")
    if [ $rc -eq 0 ] && grep -q "debug: parallel kernel" "$tmp/err" &&
       python3 -c "import sys; sys.exit(not float('$err') < 1e-4)" 2>/dev/null; then
        ok "automatic kernel $1: parallel kernel, logit error $err"
    else
        fail "automatic kernel $1 (exit $rc, error '$err')"; cat "$tmp/out" "$tmp/err"
    fi
}
falls_back "beyond the texel limit" small_texels 784,20,10
# a device without 64-bit integers: the cpu kernel's state stores need them
expect_fail "cpu kernel without shaderInt64" "cpu kernel cannot run this network: the device has no 64-bit integers" \
    env VSML_FAULT=no_int64 "$exe" rollout --kernel cpu --dataset random \
    --input-dim 784 --layers 784,10 --steps 2
falls_back "without shaderInt64" no_int64 784,10
[ $fails -eq 0 ] && echo "all passed" || echo "$fails failure(s)"
[ $fails -eq 0 ]
