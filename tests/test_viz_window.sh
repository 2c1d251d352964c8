#!/bin/sh
# vsml-vk viz in a window under Xvfb (lavapipe presents through X11): the
# window opens and renders for a few seconds, reacts to keys (space pauses,
# n single-steps, q quits), survives a resize, its screenshot is not blank,
# r resets, + speeds up, d switches the dataset; it closes cleanly (exit 0)
# and the validation layer reports nothing.
# Skipped (77) without GLFW in the build, Xvfb, xdotool or ImageMagick.
# usage: test_viz_window.sh VSML_VK HAVE_GLFW(0|1)
exe="$1"
[ "$2" = 1 ] || { echo "built without GLFW: skipped"; exit 77; }
for p in Xvfb xdotool import convert; do
    command -v $p >/dev/null || { echo "$p is missing: skipped"; exit 77; }
done
tmp=$(mktemp -d)
xpid=""
vpid=""
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    [ -n "$xpid" ] && kill "$xpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# wait_for FILE PATTERN SECONDS
wait_for() {
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt $(($3 * 5)) ] && return 1
        sleep 0.2
    done
}

Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.err" &
xpid=$!
wait_for "$tmp/display" . 20 || { cat "$tmp/xvfb.err"; echo "Xvfb did not start: skipped"; exit 77; }
DISPLAY=":$(head -1 "$tmp/display")"
export DISPLAY

"$exe" viz --dataset random --input-dim 32 --size 800x500 --speed 20 --baseline sgd \
    >"$tmp/out" 2>"$tmp/err" &
vpid=$!
wait_for "$tmp/out" "viz: first frame" 120 || fail "no first frame"
sleep 4
win=$(xdotool search --name "vsml-vk viz" | head -1)
[ -n "$win" ] || fail "no window named 'vsml-vk viz'"
xdotool windowfocus --sync "$win"
xdotool key space
wait_for "$tmp/out" "viz: paused at step" 30 || fail "space did not pause"
step=$(sed -n 's/^viz: paused at step \([0-9]*\)$/\1/p' "$tmp/out" | head -1)
[ -n "$step" ] && [ "$step" -gt 0 ] || fail "no steps ran before the pause"
xdotool key n
wait_for "$tmp/out" "viz: step $((step + 1))\$" 30 || fail "n did not run one step"
sleep 1
import -window root "$tmp/shot.png" || fail "no screenshot"
colours=$(convert "$tmp/shot.png" -format %k info:)
echo "screenshot: $colours colours"
[ "${colours:-0}" -gt 50 ] || fail "the screenshot is blank ($colours colours)"
xdotool windowsize "$win" 700 450
wait_for "$tmp/out" "viz: resized to 700x450" 60 || fail "no resize"
xdotool key r
wait_for "$tmp/out" "viz: reset: a fresh learner (seed 1)" 30 || fail "r did not reset"
xdotool key plus
wait_for "$tmp/out" "viz: speed 50 steps/s" 30 || fail "+ did not speed up"
xdotool key d
wait_for "$tmp/out" "^viz: dataset \(sumsign\|mnist\|fashion_mnist\|kmnist\|emnist\|cifar10\)\$" 120 ||
    fail "d did not switch the dataset"
xdotool key q
i=0
while kill -0 "$vpid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
if kill -0 "$vpid" 2>/dev/null; then
    fail "q did not quit"
else
    wait "$vpid"
    rc=$?
    [ "$rc" -eq 0 ] || fail "exit status $rc"
fi
vpid=""
grep -q "^viz: quit after" "$tmp/out" || fail "no closing line"
grep -E "error|Sanitizer" "$tmp/err" && fail "errors on stderr"
cat "$tmp/out"
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
