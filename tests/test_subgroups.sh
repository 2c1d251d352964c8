#!/bin/bash
# The kernels at other subgroup sizes and at a GPU's workgroup sizes.
# llvmpipe's vector width sets its subgroup size (LP_NATIVE_VECTOR_WIDTH:
# 128 bits -> 4 lanes, 512 -> 16; CI's default is 256 -> 8), and
# --workgroup-size gives the parallel kernel the workgroups it gets on a GPU
# (256, the engine's default there, and 1024, the most Vulkan devices
# allow). Each run is compared with the CPU reference over every logit
# (rollout --reference) and must agree to 1e-4 (2e-3 with a 16-bit state:
# VSML_BENCH_TOL and VSML_BENCH_TOL_F16 in include/vsml/bench.h); the
# verbose log must show the subgroup size and the workgroup asked for, so a
# run where the setting did not take counts as a failure (a NaN logit counts
# as an infinite error). llvmpipe is picked by name (a GPU would come first).
# Usage: test_subgroups.sh VSML_VK
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_expect.sh" # fails, fail
ok() { echo "ok: $1"; }

if ! "$exe" devices 2>/dev/null | grep -q "llvmpipe"; then
    echo "no llvmpipe device: its vector width cannot be changed here; skipping"
    exit 77
fi

# check BITS SUBGROUP KERNEL WORKGROUP TOL ARGS...: a rollout against the
# reference; each vector width has its own shader cache (Mesa 22.3's cache
# key does not tell the widths apart)
check() {
    local bits=$1 sg=$2 kernel=$3 wg=$4 tol=$5
    shift 5
    local name="subgroup $sg, $kernel kernel${wg:+, workgroup $wg}, $*"
    local wgopt=()
    [ -n "$wg" ] && wgopt=(--workgroup-size "$wg")
    LP_NATIVE_VECTOR_WIDTH=$bits MESA_SHADER_CACHE_DIR="$tmp/cache$bits" timeout 300 \
        "$exe" -v rollout --device llvmpipe --dataset sumsign --kernel "$kernel" "${wgopt[@]}" \
        --reference "$@" \
        > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    local err
    err=$(sed -n 's/^device vs reference: max logit error \([^ ]*\) .*/\1/p' "$tmp/out")
    if [ $rc -ne 0 ] || [ -z "$err" ]; then
        fail "$name: exit $rc, no comparison"; cat "$tmp/out" "$tmp/err"; return
    fi
    if ! grep -q "subgroup size $sg\$" "$tmp/err"; then
        fail "$name: the device did not report subgroups of $sg"; cat "$tmp/err"; return
    fi
    if ! grep -q "debug: $kernel kernel, workgroup size ${wg:-[0-9]*}," "$tmp/err"; then
        fail "$name: not the planned kernel and workgroup"; cat "$tmp/err"; return
    fi
    if python3 -c "import sys; sys.exit(not float('$err') <= $tol)"; then
        ok "$name: logit error $err"
    else
        fail "$name: logit error $err > $tol"
    fi
}

# 16 lanes: the parallel kernel at a GPU's workgroups, both state sizes, the
# backward pass, label feedback, hidden layers, clipping, a 16-bit state
check 512 16 parallel 256 1e-4 --layers 33,10 --input-dim 33 --backward-pass --feed-label \
    --episodes 6 --steps 10
check 512 16 parallel 256 1e-4 --layers 20,7,3 --input-dim 20 --micro-ticks 3 --clip 4 \
    --episodes 4 --steps 8
check 512 16 parallel 1024 1e-4 --layers 20,7,3 --input-dim 20 --micro-ticks 3 --clip 4 \
    --episodes 4 --steps 8
check 512 16 parallel 256 1e-4 --layers 784,10 --episodes 2 --steps 4
check 512 16 parallel 256 1e-4 --layers 12,5 --input-dim 12 --state-size 64 --backward-pass \
    --episodes 3 --steps 6
check 512 16 parallel 256 2e-3 --layers 33,10 --input-dim 33 --backward-pass --state-fp16 \
    --episodes 6 --steps 10
# 4 lanes: the parallel kernel, the serial kernel (lanes are episodes) and
# the cpu kernel with an episode split over two workgroups (whose shape is
# chosen from the subgroup size)
check 128 4 parallel 256 1e-4 --layers 33,10 --input-dim 33 --backward-pass --feed-label \
    --episodes 6 --steps 10
check 128 4 parallel 256 1e-4 --layers 12,5 --input-dim 12 --state-size 64 --backward-pass \
    --episodes 3 --steps 6
check 128 4 serial "" 1e-4 --layers 8,2 --input-dim 8 --backward-pass --episodes 20 --steps 10
check 128 4 cpu "" 1e-4 --layers 33,10 --input-dim 33 --backward-pass --split 2 \
    --episodes 1 --steps 10

echo "$fails failure(s)"
[ $fails -eq 0 ]
