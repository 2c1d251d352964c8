#!/bin/sh
# vsml-vk clone from the command line: a short clone writes a parameter file
# that rollout (CPU reference), eval --cpu and train --init-params accept
# with N = 64 taken from the file; bad options give one error line and never
# overwrite an existing file.
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() { # name, then the command; must succeed
    name="$1"; shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then
        echo "ok: $name"
    else
        echo "FAIL: $name (exit $?)"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
    fi
}

expect_error() {
    name="$1"; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    n=$(grep -c '^vsml-vk: error:' "$tmp/err")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$n" -ne 1 ]; then
        echo "FAIL: $name (exit $rc, $n error lines)"; cat "$tmp/err"; fails=$((fails + 1))
    else
        echo "ok: $name: $(cat "$tmp/err")"
    fi
}

p="$tmp/c.safetensors"
check "clone 30 steps" "$exe" clone --steps 30 --batch 16 --group 4 --buffer 64 --check 50 \
    --log-every 10 --out "$p"
grep -q "step     30" "$tmp/out" || { echo "FAIL: no progress line"; fails=$((fails + 1)); }
grep -q "held-out check" "$tmp/out" || { echo "FAIL: no held-out check"; fails=$((fails + 1)); }
check "clone --help" "$exe" clone --help
grep -q -- "--state-size" "$tmp/out" || { echo "FAIL: --help lacks --state-size"; fails=$((fails + 1)); }
run="--params $p --backward-pass --micro-ticks 2 --clip 4 --dataset sumsign --input-dim 4 --steps 5"
check "rollout --cpu reads N=64 from the file" "$exe" rollout $run --cpu
check "eval --cpu reads it" "$exe" eval $run --cpu --seeds 2 --baselines none --no-plots \
    --out "$tmp/ev"
check "clone --init-params continues from it" "$exe" clone --init-params "$p" --steps 2 \
    --batch 8 --group 4 --buffer 16 --check 0 --out "$tmp/c2.safetensors"

# stages 2-3 of the curriculum: a deep round on Sum Sign writes one block per
# layer, which eval --cpu --per-layer --probe and clone --init-params read
d="$tmp/deep.safetensors"
check "clone --deep-rounds" "$exe" clone --init-params "$p" --layer-gains 2,8 \
    --deep-layers 784,3,2 --deep-dataset sumsign --deep-rounds 1 --deep-steps 3 \
    --deep-episodes 1 --record 2 --steps 2 --batch 8 --group 4 --buffer 16 --check 0 --out "$d"
grep -q "round 0: rollout 784,3,2" "$tmp/out" || { echo "FAIL: no round line"; fails=$((fails + 1)); }
check "eval --cpu --probe reads the per-layer file" "$exe" eval --params "$d" --per-layer \
    --clear-bwd --backward-pass --micro-ticks 2 --clip 4 --dataset sumsign --layers 784,3,2 \
    --steps 3 --seeds 1 --baselines none --no-plots --cpu --probe --out "$tmp/ev2"
grep -q "layer 1: fwd" "$tmp/out" || { echo "FAIL: no probe line"; fails=$((fails + 1)); }
check "eval --cpu --ideal" "$exe" eval --params "$d" --per-layer --backward-pass --clip 4 \
    --dataset sumsign --layers 784,3,2 --steps 3 --seeds 1 --baselines none --no-plots --cpu \
    --ideal --out "$tmp/ev3"
check "clone --init-params from a per-layer file" "$exe" clone --init-params "$d" --steps 1 \
    --batch 8 --group 4 --buffer 16 --check 0 --out "$tmp/c3.safetensors"
expect_error "--deep-rounds without --deep-layers" "$exe" clone --init-params "$p" \
    --deep-rounds 1 --out "$tmp/x.safetensors"
expect_error "--deep-layers without matching --layer-gains" "$exe" clone --init-params "$p" \
    --deep-layers 784,3,2 --layer-gains 2,8,8 --deep-rounds 1 --out "$tmp/x.safetensors"
expect_error "--layer-gains not numbers" "$exe" clone --layer-gains 2,x --out "$tmp/x.safetensors"
expect_error "--deep-layers not fitting the dataset" "$exe" clone --init-params "$p" \
    --layer-gains 2,8 --deep-layers 100,3,2 --deep-dataset sumsign --deep-rounds 1 \
    --out "$tmp/x.safetensors"

cp "$p" "$tmp/keep.safetensors"
expect_error "existing --out without --force" "$exe" clone --steps 1 --out "$p"
cmp -s "$p" "$tmp/keep.safetensors" || { echo "FAIL: --out was overwritten"; fails=$((fails + 1)); }
expect_error "state size not a multiple of 4" "$exe" clone --state-size 30 --out "$tmp/x.safetensors"
expect_error "state size no kernel runs" "$exe" clone --state-size 32 --out "$tmp/x.safetensors"
expect_error "--out onto --init-params" "$exe" clone --steps 1 --init-params "$tmp/keep.safetensors" \
    --out "$tmp/keep.safetensors" --force
# an --out that cannot be written fails before the training, not after it
expect_error "--out directory missing" "$exe" clone --out "$tmp/no/such/dir/x.safetensors"
grep -q "step" "$tmp/out" && { echo "FAIL: clone trained before refusing --out"; fails=$((fails + 1)); }
expect_error "--out is a directory" "$exe" clone --out "$tmp" --force
expect_error "batch not a multiple of group" "$exe" clone --batch 10 --group 4 --out "$tmp/x.safetensors"
expect_error "--init-params of another N" "$exe" clone --state-size 16 --init-params "$p" \
    --out "$tmp/x.safetensors"
expect_error "unknown option" "$exe" clone --no-such-option
# the diagnostics of eval --cpu want a cloned file and the errors they follow
expect_error "eval --ideal on the default learner" "$exe" eval --cpu --ideal --steps 3 --seeds 1
expect_error "eval --gt-errors without --backward-pass" "$exe" eval --cpu --gt-errors \
    --params "$p" --steps 3 --seeds 1
[ -e "$tmp/x.safetensors" ] && { echo "FAIL: a failed clone wrote a file"; fails=$((fails + 1)); }

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
