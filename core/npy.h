/* Reading NumPy's .npy files, for tensors files (core/tensors_file.c). Private to the
 * core. */
#ifndef LT_NPY_H
#define LT_NPY_H

#include "core/lutra.h"

/* Reads a .npy file (format 1.0 or 2.0, C order) into a new tensor of its shape: dtype
 * '|u1' becomes u8, '<i4' i32, '<i8' i32 (every value must fit), '<f2' f16, '<f4' f32.
 * Fails with LT_EIO when the file cannot be opened or read; LT_EINVAL when it is not a
 * .npy file, its header cannot be parsed, it is in Fortran order, has more than
 * LT_MAX_DIMS dims, holds another dtype (f8 among them: "save it as float32"), holds
 * fewer or more data bytes than its shape says, or an i8 value past i32; LT_ENOMEM.
 * Messages start with the path. */
enum lt_status lt_npy_read(struct lt_ctx *ctx, const char *path, struct lt_tensor **out);

#endif
