#!/usr/bin/env bash
# lutra's GPT against PyTorch: a 2-layer GPT takes ten fp32 AdamW steps (minGPT's decay
# groups) in lutra (tests/parity/gpt_lutra.lua), then PyTorch takes the same steps in fp32
# and fp64 from lutra's initial weights on the same batches (tests/parity/gpt_parity.py,
# with bench/gpt_torch.py's model). Each step's loss and each final parameter of lutra
# must be as close to the fp64 run as PyTorch's own fp32 run is (within 10x, and 1e-4 in
# any case); the tables of both are printed.
. "$(dirname "$0")/lib.sh"

PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "skipped: $PYTHON cannot import torch"; exit 0; }

expect 0 "$LUTRA" run tests/parity/gpt_lutra.lua "$SCRATCH"
"$PYTHON" tests/parity/gpt_parity.py "$SCRATCH" ||
    fail "lutra's GPT steps differ from PyTorch's more than PyTorch's fp32 from its fp64 (above)"
exit 0
