#!/bin/sh
# Bad input through the command line: each case must exit non-zero with
# exactly one "vsml-vk: error:" line and no crash or sanitizer report.
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass=0

expect_error() {
    name="$1"; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    n=$(grep -c '^vsml-vk: error:' "$tmp/err")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$n" -ne 1 ] ||
       grep -qE 'Sanitizer|runtime error|Segmentation' "$tmp/err"; then
        echo "FAIL: $name (exit $rc, $n error lines)"; cat "$tmp/err"
        fails=$((fails + 1))
    else
        echo "ok: $name: $(cat "$tmp/err")"
        pass=$((pass + 1))
    fi
}

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
expect_error "unknown option" "$exe" rollout $small --frobnicate
expect_error "not a number" "$exe" rollout $small --steps many
expect_error "unknown dataset" "$exe" rollout --dataset nosuchset --steps 3
expect_error "unknown command" "$exe" frobnicate
expect_error "missing IDX files" "$exe" rollout --dataset idx --images "$tmp/a" --labels "$tmp/b" --steps 3
expect_error "out directory missing" "$exe" rollout $small --out "$tmp/no/such/dir/x.safetensors"
expect_error "state size 32" "$exe" rollout $small --state-size 32
echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
