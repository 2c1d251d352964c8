#!/bin/sh
# tools/device-check.sh, the script prepared for a lease of a GPU machine,
# in its quick mode on this machine's device: every stage exits 0, the six
# files it promises exist, and the bench files validate against the schema.
# Usage: test_device_check.sh VSML_VK TEST_ES SOURCE_ROOT
exe="$1"
test_es="$2"
root="$3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
mkdir -p "$tmp/dev/bin" "$tmp/dev/lib" "$tmp/dev/deb"
ln -s "$exe" "$tmp/dev/bin/vsml-vk"
ln -s "$test_es" "$tmp/dev/bin/test_es"
echo test > "$tmp/dev/REVISION"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
DEVICE_DIR="$tmp/dev" DEVICE_CHECK_QUICK=1 OUT="$tmp/out" PYTHON="${VSML_PYTHON:-$py}" \
    bash "$root/tools/device-check.sh" > "$tmp/log" 2>&1 || fail "device-check.sh exited non-zero"
cat "$tmp/log"
for f in summary.txt stages.log bench-rollout.json bench-es.json bench-f16.json \
    train-metrics.jsonl; do
    [ -s "$tmp/out/$f" ] || fail "no $f"
done
n=$(grep -c -E '^[a-z0-9_-]+ +rc +[0-9]+' "$tmp/out/summary.txt")
[ "$n" = 6 ] || fail "summary.txt lists $n stages, not 6"
bad=$(grep -E '^[a-z0-9_-]+ +rc +[0-9]+' "$tmp/out/summary.txt" | grep -v -E ' rc +0 ')
[ -z "$bad" ] || fail "stages failed: $bad"
for j in bench-rollout bench-es bench-f16; do
    "${VSML_PYTHON:-$py}" "$root/tests/bench_schema_check.py" "$root/bench/schema.json" "$tmp/out/$j.json" ||
        fail "$j.json does not validate"
done
[ $fails -eq 0 ] && echo "device-check quick mode: all stages passed"
exit $fails
