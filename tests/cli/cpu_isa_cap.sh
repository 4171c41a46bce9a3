#!/usr/bin/env bash
# LUTRA_MAX_CPU_ISA caps the ISA of the own CPU kernels and oneDNN's, as `lutra --version`
# reports them; a value it does not know leaves the reference kernels running, and the
# version banner says why. (tests/test_isa.c checks the kernels' results under each cap.)
. "$(dirname "$0")/lib.sh"

backend() {
    sed -n 's/^ *CPU backend: //p' "$SCRATCH/out"
}

if grep -qw avx512f /proc/cpuinfo; then
    cpu=avx512
elif grep -qw avx2 /proc/cpuinfo; then
    cpu=avx2
else
    cpu=baseline
fi

expect 0 env -u LUTRA_MAX_CPU_ISA "$LUTRA" --version
has "$SCRATCH/out" "CPU backend: own kernels ($cpu)"

# avx512 caps nothing; a cap above the CPU's level leaves the CPU's
expect 0 env LUTRA_MAX_CPU_ISA=AVX512 "$LUTRA" --version
has "$SCRATCH/out" "CPU backend: own kernels ($cpu)"

if [ "$cpu" != baseline ]; then
    expect 0 env -u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA LUTRA_MAX_CPU_ISA=avx2 "$LUTRA" --version
    has "$SCRATCH/out" "CPU backend: own kernels (avx2)"
    case "$(backend)" in
    *oneDNN*) [[ "$(backend)" == *" (avx2)" ]] || fail "oneDNN not capped at avx2: $(backend)" ;;
    esac
fi

expect 0 env -u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA LUTRA_MAX_CPU_ISA=Baseline "$LUTRA" --version
has "$SCRATCH/out" "CPU backend: own kernels (baseline)"
case "$(backend)" in
*oneDNN*) [[ "$(backend)" == *" (sse41)" ]] || fail "oneDNN not capped at sse41: $(backend)" ;;
esac

# oneDNN's own variable, where set, decides for oneDNN
if [ "$cpu" != baseline ]; then
    expect 0 env LUTRA_MAX_CPU_ISA=baseline ONEDNN_MAX_CPU_ISA=AVX2 "$LUTRA" --version
    has "$SCRATCH/out" "CPU backend: own kernels (baseline)"
    case "$(backend)" in
    *oneDNN*) [[ "$(backend)" == *" (avx2)" ]] || fail "ONEDNN_MAX_CPU_ISA ignored: $(backend)" ;;
    esac
fi

expect 0 env LUTRA_MAX_CPU_ISA=bogus "$LUTRA" --version
has "$SCRATCH/out" \
    "CPU backend: reference kernels (LUTRA_MAX_CPU_ISA='bogus' is not one of avx512, avx2, baseline)"
exit 0
