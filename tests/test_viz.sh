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
if [ "$glfw" = 1 ]; then
    expect_error "no display" env -u DISPLAY -u WAYLAND_DISPLAY "$exe" viz $common
fi
if [ "$glfw" = 0 ]; then
    expect_error "no window support" "$exe" viz $common
    grep -q "no window support" "$tmp/err" || fail "the error does not say 'no window support'"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
