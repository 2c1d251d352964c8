#!/bin/sh
# vsml-vk viz --offscreen: the frame after N steps agrees with what
# `vsml-vk rollout` reports for the same parameters and seeds (every strip
# cell's colour and every true-class square, checked by test_viz_check);
# bad options give one clear error; a build without GLFW says so.
# usage: test_viz.sh VSML_VK TEST_VIZ_CHECK SOURCE_ROOT HAVE_GLFW(0|1)
exe="$1"
check="$2"
src="$3"
glfw="$4"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_expect.sh"

# same_accuracy NAME ROLLOUT_OUTPUT VIZ_OUTPUT: both report an accuracy, and
# the same one (an empty match fails: no accuracy is no agreement)
same_accuracy() {
    ra=$(sed -n 's/.*online accuracy \([0-9.]*\),.*/\1/p' "$2")
    va=$(sed -n 's/.*online accuracy \([0-9.]*\)$/\1/p' "$3")
    if [ -z "$ra" ] || [ -z "$va" ] || [ "$ra" != "$va" ]; then
        fail "$1: rollout reports accuracy '$ra', viz '$va'"
    else
        echo "ok: $1: rollout and viz report accuracy $ra"
    fi
}

common="--params $src/assets/learner.safetensors --dataset random --input-dim 48 --seed 3 --data-seed 5"
# 130 steps: the strip shows steps 31..130, so it has scrolled
"$exe" rollout $common --steps 130 --out "$tmp/r.safetensors" >"$tmp/r.out" 2>&1 ||
    { cat "$tmp/r.out"; fail "rollout"; }
"$exe" viz $common --steps 130 --size 1000x560 --baseline sgd --offscreen "$tmp/f.png" \
    >"$tmp/v.out" 2>&1 || { cat "$tmp/v.out"; fail "viz --offscreen"; }
cat "$tmp/v.out"
# the baseline strip goes below; the VSML strip is checked with one strip's
# layout, so draw the checked frame without it
"$exe" viz $common --steps 130 --size 1000x560 --offscreen "$tmp/g.png" >"$tmp/v2.out" 2>&1 ||
    { cat "$tmp/v2.out"; fail "viz --offscreen (one strip)"; }
[ -s "$tmp/f.png" ] || fail "no PNG with the baseline strip"
"$check" "$tmp/g.png" "$tmp/r.safetensors" 1000 560 || fail "frame does not match the rollout"
same_accuracy "one strip" "$tmp/r.out" "$tmp/v2.out"

# a parameter file of another state size (the cloned N=64 learner): N comes
# from the file, and the frame reports the same accuracy as rollout
cl="--params $src/assets/cloned.safetensors --backward-pass --micro-ticks 2 --clip 4 --dataset sumsign --input-dim 8 --layers 8,2 --seed 1 --data-seed 2"
"$exe" rollout $cl --steps 60 >"$tmp/c.out" 2>&1 || { cat "$tmp/c.out"; fail "rollout (N=64)"; }
"$exe" viz $cl --steps 60 --size 800x480 --offscreen "$tmp/c.png" >"$tmp/cv.out" 2>&1 ||
    { cat "$tmp/cv.out"; fail "viz --offscreen (N=64)"; }
same_accuracy "N=64" "$tmp/c.out" "$tmp/cv.out"

expect_error "size too small" "$exe" viz $common --size 100x50 --offscreen "$tmp/x.png"
expect_error "size not WxH" "$exe" viz $common --size big --offscreen "$tmp/x.png"
expect_error "bad baseline" "$exe" viz $common --baseline rmsprop --offscreen "$tmp/x.png"
expect_error "missing dataset" "$exe" viz --dataset mnist --data-dir "$tmp/none" --offscreen "$tmp/x.png"
expect_error "unwritable PNG" "$exe" viz $common --steps 5 --offscreen "$tmp/no/such/dir/x.png"
cp "$tmp/f.png" "$tmp/f0.png"
expect_error "PNG exists" "$exe" viz $common --steps 5 --offscreen "$tmp/f.png"
cmp -s "$tmp/f.png" "$tmp/f0.png" || fail "a refused viz changed $tmp/f.png"
expect_error "no parameters" env VSML_DEFAULT_PARAMS="$tmp/none.safetensors" \
    "$exe" viz --dataset random --input-dim 48 --offscreen "$tmp/x.png"
grep -q "none.safetensors cannot be read" "$tmp/err" || fail "the error does not name the default file"
[ -e "$tmp/x.png" ] && fail "a failed viz left $tmp/x.png behind"
# a frame whose pixel buffers exceed what the device can bind (lavapipe:
# maxStorageBufferRange 128 MiB; 5800x5800x4 bytes is 128.3 MiB) is refused
# before any work, naming --size, and no PNG is written
if "$exe" devices 2>/dev/null | grep -q llvmpipe; then
    expect_error "size over the binding limit" "$exe" viz $common --device llvmpipe --steps 1 \
        --size 5800x5800 --offscreen "$tmp/big.png"
    grep -q -- "--size 5800x5800" "$tmp/err" || fail "the error does not name --size"
    [ -e "$tmp/big.png" ] && fail "a refused viz left $tmp/big.png behind"
else
    echo "no llvmpipe device: the binding limit is not known here; skipping --size 5800x5800"
fi

# a device that never finishes (VSML_FAULT=hang@K: the K-th submission never
# completes, whichever it is: an upload, an engine step or the frame's draw,
# the last) is one error after VSML_FENCE_TIMEOUT_S, not a hang (timeout 60),
# and leaves no PNG; K counts up until the run has no hang and succeeds
k=1
while [ "$k" -le 20 ]; do
    rm -f "$tmp/hang.png"
    VSML_FAULT=hang@$k VSML_FENCE_TIMEOUT_S=1 timeout 60 "$exe" viz $common --steps 1 \
        --size 640x360 --offscreen "$tmp/hang.png" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        [ "$k" -gt 1 ] || fail "hang@1: viz submitted no work"
        [ -s "$tmp/hang.png" ] || fail "hang@$k: no PNG from a run without a hang"
        echo "ok: each of the $((k - 1)) submissions of viz hung once: one error each"
        break
    fi
    errs=$(grep -c '^vsml-vk: error:' "$tmp/err")
    if [ "$rc" -ge 124 ] || [ "$errs" -ne 1 ] || ! grep -q "did not finish" "$tmp/err"; then
        fail "hang@$k (exit $rc, $errs error lines)"
        cat "$tmp/err"
    else
        echo "ok: hang@$k: $(cat "$tmp/err")"
    fi
    if [ -e "$tmp/hang.png" ] || [ -e "$tmp/hang.png.tmp" ]; then
        fail "hang@$k: a failed viz left a PNG behind"
    fi
    k=$((k + 1))
done
[ "$k" -le 20 ] || fail "viz still hangs at submission 20"

if [ "$glfw" = 1 ]; then
    expect_error "no display" env -u DISPLAY -u WAYLAND_DISPLAY "$exe" viz $common
fi
if [ "$glfw" = 0 ]; then
    expect_error "no window support" "$exe" viz $common
    grep -q "no window support" "$tmp/err" || fail "the error does not say 'no window support'"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
