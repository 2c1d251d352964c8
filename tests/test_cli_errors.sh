#!/bin/sh
# Bad input through the command line: each case must exit non-zero with
# exactly one "vsml-vk: error:" line and no crash or sanitizer report.
exe="$1"
src_params="$(dirname "$0")/../assets/learner.safetensors"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_expect.sh"

small="--dataset sumsign --input-dim 4 --layers 4,2 --steps 3"
"$exe" rollout $small --seed 3 --out "$tmp/out.safetensors" >/dev/null 2>&1 || {
    echo "FAIL: the good rollout failed"; fails=$((fails + 1)); }
# a good parameter file, then broken copies of it
printf 'x' > "$tmp/empty.safetensors"
head -c 100 /dev/urandom > "$tmp/garbage.safetensors"

expect_error "no such device" env VSML_DEVICE=no-such-gpu-xyz "$exe" rollout $small
expect_error "device index out of range" "$exe" rollout $small --device 99
expect_error "missing params file" "$exe" rollout $small --params "$tmp/none.safetensors"
expect_error "1-byte params file" "$exe" rollout $small --params "$tmp/empty.safetensors"
expect_error "garbage params file" "$exe" rollout $small --params "$tmp/garbage.safetensors"
expect_error "rollout output is not params" "$exe" rollout $small --params "$tmp/out.safetensors"
expect_error "layer size 0" "$exe" rollout --dataset sumsign --input-dim 4 --layers 4,0,2 --steps 3
expect_error "input size mismatch" "$exe" rollout --dataset sumsign --input-dim 4 --layers 5,2 --steps 3
expect_error "steps 0" "$exe" rollout $small --steps 0
expect_error "16-bit state on the serial kernel" "$exe" rollout $small --state-fp16 --kernel serial
expect_error "16-bit state on the cpu kernel" "$exe" rollout $small --state-fp16 --kernel cpu
expect_error "16-bit state with eval --cpu" "$exe" eval --cpu --state-fp16 --steps 3 --seeds 1
expect_error "unknown option" "$exe" rollout $small --frobnicate
expect_error "not a number" "$exe" rollout $small --steps many
expect_error "unknown dataset" "$exe" rollout --dataset nosuchset --steps 3
expect_error "unknown command" "$exe" frobnicate
expect_error "devices junk" "$exe" devices junk
# options that the chosen path would ignore
expect_error "--images with sumsign" "$exe" rollout $small --images "$tmp/a" --labels "$tmp/b"
expect_error "--input-dim with mnist" "$exe" rollout --dataset mnist --input-dim 7 --steps 3
expect_error "--input-dim with mnist (viz)" "$exe" viz --dataset mnist --input-dim 7 --offscreen "$tmp/v.png"
expect_error "--cpu with --kernel" "$exe" rollout $small --cpu --kernel parallel
expect_error "--cpu with --workgroup-size" "$exe" rollout $small --cpu --workgroup-size 64
expect_error "--resume with --init-params" "$exe" train --resume "$tmp/r" --init-params "$tmp/out.safetensors"
expect_error "bench --only ''" "$exe" bench --only ""
expect_error "version --x" "$exe" version --x
for c in devices version; do
    if "$exe" $c --help >"$tmp/out" 2>&1 && grep -q "^usage: vsml-vk $c" "$tmp/out"; then
        echo "ok: $c --help"; pass=$((pass + 1))
    else
        fail "$c --help"; cat "$tmp/out"
    fi
done
expect_error "missing IDX files" "$exe" rollout --dataset idx --images "$tmp/a" --labels "$tmp/b" --steps 3
expect_error "out directory missing" "$exe" rollout $small --out "$tmp/no/such/dir/x.safetensors"
expect_error "out is a directory" "$exe" rollout $small --out "$tmp"
# refused before the rollout runs, not when its file is written at the end
grep -q "sub-LSTM updates/s" "$tmp/out" && fail "rollout ran before refusing --out $tmp"
expect_error "viz --offscreen directory missing" "$exe" viz --offscreen "$tmp/no/such/dir/x.png"
expect_error "state size 32" "$exe" rollout $small --state-size 32
# seeds are decimal digits: 1e3, 0x10 and -1 were once read as 1, 0 and 2^64-1
for seed in 1e3 0x10 -1 99999999999999999999999 12abc ""; do
    expect_error "--seed '$seed'" "$exe" rollout $small --seed "$seed"
done
expect_error "--data-seed 1e3" "$exe" eval --cpu --data-seed 1e3 --steps 3 --seeds 1
# an existing output is replaced only with --force, and never when it is
# the input: rollout --out onto its own --params once destroyed them
cp "$tmp/out.safetensors" "$tmp/keep.safetensors"
expect_error "--out exists" "$exe" rollout $small --out "$tmp/out.safetensors"
cp "$src_params" "$tmp/p.safetensors"
expect_error "--out is --params" "$exe" rollout --params "$tmp/p.safetensors" --dataset sumsign \
    --input-dim 8 --layers 8,2 --steps 3 --out "$tmp/p.safetensors" --force
cmp -s "$src_params" "$tmp/p.safetensors" || fail "rollout changed its --params file"
cmp -s "$tmp/out.safetensors" "$tmp/keep.safetensors" || fail "a refused rollout changed --out"
if "$exe" rollout $small --seed 4 --out "$tmp/out.safetensors" --force >/dev/null 2>&1 &&
   ! cmp -s "$tmp/out.safetensors" "$tmp/keep.safetensors"; then
    echo "ok: --force replaces --out"; pass=$((pass + 1))
else
    fail "--force did not replace --out"
fi
expect_error "split 9" "$exe" rollout $small --split 9
# a layer whose state is 2^32 floats: its 32-bit sum once wrapped to 0
expect_error "state of 2^32 floats" "$exe" rollout --dataset sumsign --input-dim 4 \
    --layers 4,16384,8192,10 --steps 1
grep -q "state of one episode needs" "$tmp/err" || fail "the error does not name the state's size"
# --split where the cpu kernel does not run (a small network: the serial
# kernel): a warning, and the rollout runs
if "$exe" rollout $small --split 2 >"$tmp/out" 2>"$tmp/err" &&
   grep -q "warning: split 2 ignored" "$tmp/err"; then
    echo "ok: split with the serial kernel: $(cat "$tmp/err")"; pass=$((pass + 1))
else
    fail "split with the serial kernel"; cat "$tmp/err"
fi
# a chunk of split episodes within maxComputeWorkGroupCount (65,535 on
# lavapipe): 22,000 episodes x 3 workgroups once made one dispatch of
# 66,000 (a validation error; the device tests run with validation on)
if "$exe" rollout $small --steps 1 --episodes 22000 --split 3 --kernel cpu >"$tmp/out" 2>"$tmp/err" &&
   ! grep -q "error" "$tmp/err"; then
    echo "ok: 22000 episodes x split 3"; pass=$((pass + 1))
else
    fail "22000 episodes x split 3"; cat "$tmp/err"
fi
echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
