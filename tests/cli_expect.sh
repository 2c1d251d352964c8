# Sourced by the command-line tests (sh): fail NAME counts a failure;
# expect_error NAME COMMAND... runs COMMAND and expects a non-zero exit with
# exactly one "vsml-vk: error:" line and no crash or sanitizer report.
# Needs $tmp (a scratch directory); counts in $fails and $pass.
fails=0
pass=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect_error() {
    name="$1"; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    n=$(grep -c '^vsml-vk: error:' "$tmp/err")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$n" -ne 1 ] ||
       grep -qE 'Sanitizer|runtime error|Segmentation' "$tmp/err"; then
        fail "$name (exit $rc, $n error lines)"; cat "$tmp/err"
    else
        echo "ok: $name: $(cat "$tmp/err")"
        pass=$((pass + 1))
    fi
}
