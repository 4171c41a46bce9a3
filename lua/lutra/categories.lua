-- The memory categories every planned byte belongs to (core/lutra.h's enum
-- lt_mem_category), in the order lutra's reports list them, and what each holds: the
-- legend of `lutra plan --explain`, the log's step line and sweep.csv's columns.
local categories = {}

categories.NAMES = { "params", "param_copies", "grads", "optimizer", "activations",
    "temporaries", "workspace", "data", "state", "runtime" }

categories.LEGEND = {
    params = "the fp32 master weights",
    param_copies = "the weights' half copies a mixed-precision step computes with " ..
        "(made once per step)",
    grads = "the fp32 gradients, one per weight, summed over the micro-batches of a step",
    optimizer = "the optimizer's moments (SGD's momentum; AdamW's two)",
    activations = "forward tensors kept for the backward (what activation checkpointing " ..
        "recomputes instead)",
    temporaries = "tensors made and freed within the step (gradients of activations, " ..
        "intermediate values)",
    workspace = "scratch a library (oneDNN, cuBLAS, cuDNN) or kernel asks for within one call",
    data = "the micro-batch's input buffers (two: one loading while one runs) and, on the " ..
        "CPU, the loader's batches made ahead (data.workers + 1)",
    state = "running statistics (batch norm) and the loss scale",
    runtime = "on a GPU, the CUDA context and libraries: measured, not planned",
}

-- Outside every category: what the process holds besides the plan.
categories.PROCESS = "not planned: the program and its libraries, the Lua state and the " ..
    "data sets held in memory (a log line's `mem` is the process's RSS, all of it)"

return categories
