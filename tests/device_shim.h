/* Test support: a device backend seen as a host one. Each kernel of the shim copies its
 * host arguments to the device (outputs and gradients too, so that their poison travels
 * and an element the device kernel leaves alone shows), prepares the device kernel from
 * the shapes as the planner would, runs it, waits, and copies outputs, gradients and
 * in-place inputs back. So every op-level check written for host backends
 * (tests/op_check.h) runs unchanged against a GPU.
 */
#ifndef LT_DEVICE_SHIM_H
#define LT_DEVICE_SHIM_H

#include "kernels/kernels.h"

/* Fills `shim` with a kernel for every (op, dtype) `dev` has. `dev` must outlive it. */
void device_shim_init(struct lt_backend *shim, const struct lt_backend *dev);

#endif
