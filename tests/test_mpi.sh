#!/bin/sh
# vsml-vk train under mpirun on lavapipe (meson feature 'mpi').
# Usage: test_mpi.sh VSML_VK MODE
#   same:  1 process, and 1, 2, 3 ranks (3 with unequal shares) give bitwise
#          identical checkpoints.
#   fault: a rank whose device is lost (VSML_FAULT) ends the whole job with
#          a clear error; the newest checkpoint resumes on 3 ranks to the
#          same result as an uninterrupted single process.
#   hang:  a rank stuck on its device makes the others give up
#          (--mpi-timeout) instead of waiting forever; a NaN fitness on
#          rank 1 is reported by rank 0 with the global pair index.
#   kill:  kill -9 of one rank ends the job with an error; the newest
#          checkpoint resumes with another rank count to the same result as
#          an uninterrupted single process.
# lavapipe's worker threads hang when mpirun binds a rank to one core, so
# the tests use --bind-to none (a GPU does not care).
# One node: no ssh launcher needed; no single-copy (CMA) transfers, which
# containers without ptrace rights refuse.
export OMPI_MCA_plm="${OMPI_MCA_plm:-isolated}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
exe="$1"
mode="$2"
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }
mpi() {
    np="$1"
    shift
    timeout 120 mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$np" "$@"
}

. "$(dirname "$0")/tiny_cfg.sh"
tiny_cfg "$tmp/tiny.cfg" pairs=6 keep_checkpoints=100
train() { "$exe" train --config "$tmp/tiny.cfg" "$@"; }
# only rank 1 gets the environment given as $1
cat > "$tmp/rank1.sh" <<'SH'
#!/bin/sh
[ "$OMPI_COMM_WORLD_RANK" = 1 ] && export "$1"
shift
exec "$@"
SH
chmod +x "$tmp/rank1.sh"

same_ckpt() { # dir_a dir_b step
    if cmp -s "$1/ckpt-$3.safetensors" "$2/ckpt-$3.safetensors"; then
        ok "$4: checkpoint $3 identical"
    else
        fail "$4: checkpoint $3 differs"
    fi
}

newest() { ls "$1" 2>/dev/null | sed -n 's/^ckpt-\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1; }

case "$mode" in
same)
    train --run "$tmp/ref" --steps 3 > "$tmp/ref.log" 2>&1 || { fail "single process"; cat "$tmp/ref.log"; }
    mpi 1 "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/np1" --steps 3 > "$tmp/np1.log" 2>&1 ||
        { fail "1 rank"; cat "$tmp/np1.log"; }
    mpi 2 "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/np2" --steps 3 > "$tmp/np2.log" 2>&1 ||
        { fail "2 ranks"; cat "$tmp/np2.log"; }
    mpi 3 "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/np3" --steps 3 --share 3,2,1 \
        > "$tmp/np3.log" 2>&1 || { fail "3 ranks"; cat "$tmp/np3.log"; }
    grep -q "on 3 MPI ranks (pairs per rank: 3 2 1)" "$tmp/np3.log" && ok "3 ranks share 3 2 1" ||
        { fail "3 ranks did not share the pairs 3 2 1"; cat "$tmp/np3.log"; }
    for n in np1 np2 np3; do
        for s in 1 2 3; do same_ckpt "$tmp/ref" "$tmp/$n" $s "$n"; done
        cmp -s "$tmp/ref/final.safetensors" "$tmp/$n/final.safetensors" && ok "$n: final identical" ||
            fail "$n: final differs"
    done
    # rank 0 alone writes the run directory: nothing but its files
    [ "$(ls "$tmp/np2" | grep -vc '^ckpt-\|^config.cfg$\|^metrics.jsonl$\|^best.safetensors$\|^final.safetensors$')" -eq 0 ] &&
        [ "$(wc -l < "$tmp/np2/metrics.jsonl")" -eq 3 ] && grep -q '"ranks":2,"comm_s"' "$tmp/np2/metrics.jsonl" &&
        ok "run directory of 2 ranks: one metrics line per step with comm_s" ||
        { fail "run directory of 2 ranks"; ls -la "$tmp/np2"; cat "$tmp/np2/metrics.jsonl"; }
    # a rank with no pair, a bad share list: one error, nothing created
    mpi 2 "$exe" train --config "$tmp/tiny.cfg" --run "$tmp/bad" --steps 1 --share 1,2,3 > "$tmp/bad.log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q "gives 3 weight(s) for 2 rank(s)" "$tmp/bad.log" && [ ! -e "$tmp/bad" ] &&
        ok "--share with the wrong count rejected (exit $rc)" || { fail "--share 1,2,3 on 2 ranks"; cat "$tmp/bad.log"; }
    ;;
fault)
    train --run "$tmp/ref" --steps 8 > "$tmp/ref.log" 2>&1 || { fail "single process"; cat "$tmp/ref.log"; }
    mpi 2 "$tmp/rank1.sh" VSML_FAULT=device_lost@6 "$exe" train --config "$tmp/tiny.cfg" \
        --run "$tmp/lost" --steps 8 > "$tmp/lost.log" 2>&1
    rc=$?
    n=$(newest "$tmp/lost")
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "rank 1\]: error: vkWaitForFences failed with VK_ERROR_DEVICE_LOST" "$tmp/lost.log" &&
        [ -n "$n" ] && [ "$n" -lt 8 ]; then
        ok "device lost on rank 1: job ended with exit $rc after checkpoint $n"
    else
        fail "device lost on rank 1 (exit $rc, newest checkpoint '$n')"; cat "$tmp/lost.log"
    fi
    mpi 3 "$exe" train --resume "$tmp/lost" --steps 8 > "$tmp/resume.log" 2>&1 ||
        { fail "resume on 3 ranks"; cat "$tmp/resume.log"; }
    grep -q "from step $n" "$tmp/resume.log" && ok "resumed on 3 ranks from step $n" ||
        { fail "resume did not start at $n"; cat "$tmp/resume.log"; }
    same_ckpt "$tmp/ref" "$tmp/lost" 8 "lost on 2 ranks, resumed on 3"
    ;;
kill)
    mpi 2 "$exe" train --config "$tmp/tiny.cfg" --set keep_checkpoints=3 --run "$tmp/k" \
        --steps 100000 > "$tmp/k.log" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 600 ] && [ -z "$(newest "$tmp/k")" -o "$(newest "$tmp/k")" = 1 -o "$(newest "$tmp/k")" = 2 ]; do
        sleep 0.1; i=$((i + 1))
    done
    victim=""
    for p in $(pgrep -f -- "--run $tmp/k "); do # the ranks of this job (and mpirun)
        tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
    done
    if [ -n "$victim" ]; then
        t0=$(date +%s)
        kill -9 "$victim"
        wait $pid
        rc=$?
        pid=""
        t=$(( $(date +%s) - t0 ))
        [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "process rank 1 .* exited on signal 9" "$tmp/k.log" &&
            ok "kill -9 of rank 1: job ended with exit $rc in $t s" ||
            { fail "kill -9 of rank 1: exit $rc"; cat "$tmp/k.log"; }
    else
        fail "rank 1 not found"; cat "$tmp/k.log"
    fi
    n=$(newest "$tmp/k")
    m=$((n + 2))
    mpi 3 "$exe" train --resume "$tmp/k" --steps $m > "$tmp/resume.log" 2>&1 &&
        grep -q "from step $n" "$tmp/resume.log" && ok "resumed on 3 ranks from step $n" ||
        { fail "resume on 3 ranks from $n"; cat "$tmp/resume.log"; }
    train --set keep_checkpoints=3 --run "$tmp/ref" --steps $m > "$tmp/ref.log" 2>&1 ||
        { fail "single process to $m"; cat "$tmp/ref.log"; }
    same_ckpt "$tmp/ref" "$tmp/k" $m "killed on 2 ranks, resumed on 3"
    ;;
hang)
    # rank 1's device never finishes: rank 0 gives up after --mpi-timeout
    t0=$(date +%s)
    mpi 2 "$tmp/rank1.sh" VSML_FAULT=hang@4 "$exe" train --config "$tmp/tiny.cfg" \
        --run "$tmp/hang" --steps 8 --mpi-timeout 15 > "$tmp/hang.log" 2>&1
    rc=$?
    t=$(( $(date +%s) - t0 ))
    n=$(newest "$tmp/hang")
    grep -q "rank 0\]: error: no answer from the other ranks" "$tmp/hang.log" && [ $rc -ne 0 ] &&
        [ $rc -ne 124 ] && [ -n "$n" ] && ok "a stuck rank: rank 0 gave up, job ended with exit $rc in $t s (checkpoint $n)" ||
        { fail "stuck rank (exit $rc after $t s, newest checkpoint '$n')"; cat "$tmp/hang.log"; }
    "$exe" train --resume "$tmp/hang" --steps $((n + 1)) > "$tmp/resume.log" 2>&1 &&
        ok "the stuck run resumes in one process" || { fail "resume the stuck run"; cat "$tmp/resume.log"; }
    # a NaN fitness on rank 1 (pair 4 of its share 3..5): rank 0 reports the pair
    mpi 2 "$tmp/rank1.sh" VSML_FAULT=nan@4 "$exe" train --config "$tmp/tiny.cfg" \
        --run "$tmp/nan" --steps 2 > "$tmp/nan.log" 2>&1 &&
        [ "$(grep -c 'rank 0\]: warning: step [01]: non-finite fitness in 1 pair(s), first pair 4; update skipped' "$tmp/nan.log")" -eq 2 ] &&
        [ "$(grep -c '"grad_norm":0,.*"nonfinite_pairs":1' "$tmp/nan/metrics.jsonl")" -eq 2 ] &&
        ok "NaN fitness on rank 1: rank 0 skips steps 0 and 1 naming pair 4" ||
        { fail "NaN fitness on rank 1"; cat "$tmp/nan.log"; }
    ;;
*)
    echo "usage: test_mpi.sh VSML_VK same|fault|hang|kill"; exit 2 ;;
esac
[ $fails -eq 0 ] && echo "all passed" || echo "$fails failure(s)"
[ $fails -eq 0 ]
