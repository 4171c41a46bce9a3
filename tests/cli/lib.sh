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

# run_dirs WD: the run folders of the work dir WD, one a line, oldest first (each run
# trains into WD/YYYYMMDD_HHMMSS, "_2", "_3" appended when two start in the same second).
run_dirs() {
    local d n
    for d in "$1"/2*/; do
        [ -d "$d" ] || continue
        d=${d%/} n=${d##*/}
        n=${n}_1 # no suffix sorts as _1
        echo "${n%%_*} $(cut -d_ -f2 <<<"$n") $(cut -d_ -f3 <<<"$n") $d"
    done | LC_ALL=C sort -k1,1 -k2,2 -k3,3n | cut -d' ' -f4-
}

# run_dir WD: the newest run folder of WD (nothing when there is none).
run_dir() {
    run_dirs "$1" | tail -1
}

# same_weights A B: the two safetensors files hold the same tensors bit for bit (names,
# dtypes, shapes, bytes); their metadata (the run's name among it) may differ.
same_weights() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        return header, f.read()
sys.exit(0 if tensors(sys.argv[1]) == tensors(sys.argv[2]) else 1)
PY
}

# Data-parallel tests: mpirun and a lutra built with MPI, or the test is skipped. Open MPI
# refuses root unless told; CI runs as root.
mpi_ready() {
    command -v mpirun >/dev/null || { echo "skipped: no mpirun (Debian's openmpi-bin)"; exit 0; }
    "$LUTRA" --version | grep -qF "ranks: MPI" ||
        { echo "skipped: $LUTRA was built without MPI"; exit 0; }
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # no interface probing beyond this machine, no fork warnings
    export OMPI_MCA_btl_base_warn_component_unused=0 OMPI_MCA_rmaps_base_oversubscribe=1
}

# close_weights A B [TOL]: every tensor of B within TOL (default 1e-5) of A's, norm-wise
# (|b - a| / |a|); prints the worst.
close_weights() {
    python3 - "$1" "$2" "${3:-1e-5}" <<'PY'
import array, json, math, struct, sys
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        data = f.read()
    out = {}
    for k, v in header.items():
        a = array.array("f")
        a.frombytes(data[v["data_offsets"][0]:v["data_offsets"][1]])
        out[k] = a
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
if a.keys() != b.keys():
    sys.exit("different tensors: %s / %s" % (sorted(a), sorted(b)))
worst = 0.0
for k in a:
    d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a[k], b[k])))
    worst = max(worst, d / (math.sqrt(sum(x * x for x in a[k])) or 1.0))
print("worst norm-wise difference %.3g" % worst)
sys.exit(0 if worst <= float(sys.argv[3]) else 1)
PY
}
