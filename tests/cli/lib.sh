# Shared by the CLI tests (tests/cli/*.sh): the binary under test, a scratch folder
# removed on exit, and checks that end the test with a message. Each test is a script
# run from the repository root whose exit status is its verdict.
set -u
BUILD=${BUILD:-build/release}
LUTRA=${LUTRA:-$BUILD/lutra}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/lutra-cli.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
# Quick runs of the default recipe: a slice of Fashion-MNIST, a narrow MLP.
SMALL=(data.train_samples=512 data.val_samples=200 'model.hidden={64}' data.batch_size=32
       schedule.warmup_iters=0 runner.log_interval=4)

fail() {
    echo "FAIL $(basename "$0"): $*" >&2
    exit 1
}

# expect CODE COMMAND...: runs the command (output in $SCRATCH/out, $SCRATCH/err) and
# checks its exit status.
expect() {
    local want=$1
    shift
    "$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "--- stdout"; cat "$SCRATCH/out"; echo "--- stderr"; cat "$SCRATCH/err"
        fail "exit status $rc, want $want: $*"
    fi
}

# has FILE TEXT: FILE contains TEXT (fixed string).
has() {
    grep -qF -- "$2" "$1" || { echo "--- $1"; cat "$1"; fail "$1 lacks: $2"; }
}

have_data() {
    [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]
}
