# Sourced by the training tests: tiny_cfg FILE [KEY=VALUE ...] writes the
# tiny training configuration they share (a few pairs, T = 6, a checkpoint
# every step), with the given keys changed.
tiny_cfg() {
    cfg_out="$1"
    shift
    cat > "$cfg_out" <<'CFG'
# a tiny run for the tests
layers = 4,2
input_dim = 4
pairs = 4
pairs_per_task = 2
T = 6
eval_every = 2
eval_episodes = 2
eval_steps = 6
checkpoint_every = 1
keep_checkpoints = 10
CFG
    for kv in "$@"; do
        sed -i "s/^${kv%%=*} = .*/${kv%%=*} = ${kv#*=}/" "$cfg_out"
        grep -q "^${kv%%=*} = ${kv#*=}\$" "$cfg_out" || { echo "tiny_cfg: no key ${kv%%=*}"; exit 1; }
    done
}
