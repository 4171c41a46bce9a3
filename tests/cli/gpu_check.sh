#!/usr/bin/env bash
# scripts/gpu-check.sh --dry-run: the bundle for a lent GPU machine builds, fits what a
# device call carries, and its programs run here and say why there is no GPU.
. "$(dirname "$0")/lib.sh"

if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "skipped: no nvcc: the CUDA plugin is not built here"
    exit 0
fi
expect 0 bash scripts/gpu-check.sh --dry-run
has "$SCRATCH/out" "gpu-check: dry run passed"
has "$SCRATCH/out" "MiB (a device call carries at most 64 MiB)"
exit 0
