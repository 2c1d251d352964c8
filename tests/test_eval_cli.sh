#!/bin/sh
# vsml-vk eval through the command line: bad input gives one clear
# "vsml-vk: error:" line and a non-zero exit; a tiny run writes every output.
# usage: test_eval_cli.sh VSML_VK TEST_EVAL_MKPARAMS SOURCE_ROOT
exe="$1"
mkparams="$2"
src="$3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_expect.sh"

tiny="--input-dim 4 --steps 100 --seeds 4 --window 20"
"$mkparams" "$tmp/p2.safetensors" 4,3,2 per-layer || fail "mkparams per-layer"
"$mkparams" "$tmp/p1.safetensors" 4,2 || fail "mkparams"
mkdir "$tmp/full" && echo x > "$tmp/full/keep"

expect_error "unknown dataset" "$exe" eval --dataset nosuchset --init-seed 1 $tiny --out "$tmp/o1"
expect_error "unknown dataset in a list" "$exe" eval --dataset sumsign,nosuchset --init-seed 1 $tiny --out "$tmp/o1"
expect_error "missing params file" "$exe" eval --params "$tmp/none.safetensors" $tiny --out "$tmp/o1"
expect_error "params for other layers (2 blocks)" "$exe" eval --params "$tmp/p2.safetensors" $tiny --out "$tmp/o1"
expect_error "layers do not fit the dataset" "$exe" eval --params "$tmp/p1.safetensors" --layers 5,2 $tiny --out "$tmp/o1"
expect_error "missing IDX dataset" "$exe" eval --dataset mnist --data-dir "$tmp/nodata" --init-seed 1 $tiny --out "$tmp/o1"
expect_error "params and init-seed" "$exe" eval --params "$tmp/p1.safetensors" --init-seed 1 $tiny --out "$tmp/o1"
expect_error "bad baselines" "$exe" eval --init-seed 1 --baselines rmsprop $tiny --out "$tmp/o1"
expect_error "non-empty out dir" "$exe" eval --init-seed 1 $tiny --out "$tmp/full"
expect_error "out parent missing" "$exe" eval --init-seed 1 $tiny --out "$tmp/no/such/dir"
expect_error "dataset twice" "$exe" eval --dataset sumsign --dataset sumsign --init-seed 1 $tiny
expect_error "steps 0" "$exe" eval --init-seed 1 $tiny --steps 0
[ -d "$tmp/o1" ] && fail "a failed eval left $tmp/o1 behind"

# No parameters at all: the default file (VSML_DEFAULT_PARAMS, else
# assets/learner.safetensors) cannot be read
expect_error "no parameters" env VSML_DEFAULT_PARAMS="$tmp/none.safetensors" \
    "$exe" eval $tiny --out "$tmp/o2"
grep -q "none.safetensors cannot be read" "$tmp/err" || fail "the error does not name the default file"
[ -d "$tmp/o2" ] && fail "a failed eval left $tmp/o2 behind"

# A tiny successful eval on two datasets, fresh parameters.
if "$exe" eval --dataset sumsign --dataset random --init-seed 3 $tiny --out "$tmp/ok" \
        >"$tmp/ok.out" 2>"$tmp/ok.err"; then
    for f in results.json results.csv curves_sumsign.png curves_random.png \
             online_accuracy.png first100_accuracy.png; do
        [ -s "$tmp/ok/$f" ] || fail "eval did not write $f"
    done
    for f in curves_sumsign.png online_accuracy.png; do
        head -c 8 "$tmp/ok/$f" | od -An -c | grep -q 'P   N   G' || fail "$f is not a PNG"
    done
    for m in vsml sgd_linear sgd_hidden160 adam_linear adam_hidden160; do
        grep -q "\"$m\"" "$tmp/ok/results.json" || fail "results.json lacks $m"
        grep -q "^random,$m,online_accuracy,0,100," "$tmp/ok/results.csv" ||
            fail "results.csv lacks random,$m,online_accuracy"
    done
    # 5 windows of 20 steps per method and dataset
    n=$(grep -c "^sumsign,vsml,window_accuracy," "$tmp/ok/results.csv")
    [ "$n" -eq 5 ] || fail "expected 5 window rows, got $n"
    if command -v python3 >/dev/null; then
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['datasets'])==2 and d['state_bits']==32" \
            "$tmp/ok/results.json" || fail "results.json does not parse or lacks state_bits 32"
    fi
    grep -q 'online acc' "$tmp/ok.out" || fail "no table on stdout"
    pass=$((pass + 1))
    echo "ok: tiny eval"
    cat "$tmp/ok.out"
    # Same outputs again: refused without --force, accepted with it.
    expect_error "existing results" "$exe" eval --init-seed 3 $tiny --out "$tmp/ok"
    "$exe" eval --params "$tmp/p1.safetensors" --baselines none $tiny --out "$tmp/ok" --force \
        >/dev/null 2>"$tmp/err" || { fail "--force"; cat "$tmp/err"; }
else
    fail "tiny eval"; cat "$tmp/ok.err"
fi
# A 16-bit state: results.json and the rollout file say so
if "$exe" eval --dataset sumsign --init-seed 3 $tiny --state-fp16 --baselines none \
        --out "$tmp/h16" >/dev/null 2>"$tmp/h16.err" &&
    grep -q '"state_bits": 16' "$tmp/h16/results.json" &&
    "$exe" rollout --dataset sumsign --input-dim 4 --layers 4,2 --steps 3 --state-fp16 \
        --out "$tmp/r16.safetensors" >/dev/null 2>>"$tmp/h16.err" &&
    grep -a -q '"state_bits":"16"' "$tmp/r16.safetensors"; then
    pass=$((pass + 1))
    echo "ok: --state-fp16 recorded in results.json and the rollout file"
else
    fail "--state-fp16 not recorded"; cat "$tmp/h16.err"
fi
echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
