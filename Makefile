# lutra's build.
#
#   make              install missing Debian packages, build the library, the Lua module
#                     and the `lutra` binary (build/release/)
#   make test         build and run every suite (C, busted, CLI); ends with one summary line
#   make train        train the default recipe (examples/fmnist_mlp.lua)
#   make bench        step throughput against PyTorch on the same models
#   make install      binary, C module, Lua files, liblutra (.a and .so), its headers and
#                     lutra.pc into PREFIX (/usr/local); prints the LUA_PATH and LUA_CPATH
#                     a stock lua5.4 needs for that PREFIX
#
# Switches: SANITIZE=1 (ASan+UBSan, under build/asan), ONEDNN=0 (reference kernels only,
# no oneDNN), MPI=0 (no data-parallel ranks; on by default where mpicc is found, after the
# dependency script has installed Open MPI), OPT=... (optimisation flags).

CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
ONEDNN  ?= 1
PREFIX  ?= /usr/local
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT     ?= -O2 -g
LUA_INC := -isystem /usr/include/lua5.4
SYS_INC := $(LUA_INC) -isystem /usr/include/libpng16 -isystem /usr/include/editline

ifeq ($(SANITIZE),1)
BUILD   := build/asan
OPT     := -O1 -g -fno-omit-frame-pointer
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   ?= build/release
SAN     :=
endif

CORE_SRC    := $(wildcard core/*.c core/ops/*.c)
KERNEL_SRC  := $(wildcard kernels/cpu/*.c)
ifeq ($(ONEDNN),1)
KERNEL_SRC  += $(wildcard kernels/cpu/dnnl/*.c)
DEFS        := -DLT_ONEDNN=1
DNNL_LIB    := -ldnnl
endif

# Hidden by default: core/lutra.h marks the public API, so a shared build exports it alone.
CFLAGS  := $(CSTD) $(OPT) $(WARN) -I. $(SYS_INC) -fPIC -fvisibility=hidden -fopenmp $(DEFS) \
           $(SAN) $(EXTRA_CFLAGS)
# Data-parallel ranks (core/dist.c) through Open MPI's mpicc flags. Expanded when a recipe
# runs, after `deps` has installed the packages: a fresh machine builds with MPI too.
MPI     ?= auto
MPI_ON   = $(filter 1,$(if $(filter auto,$(MPI)),$(if $(shell command -v mpicc 2>/dev/null),1),$(MPI)))
MPI_CFLAGS = $(if $(MPI_ON),-DLT_MPI=1 $(patsubst -I%,-isystem %,$(shell mpicc --showme:compile)))
MPI_LIBS   = $(if $(MPI_ON),$(shell mpicc --showme:link))

LDLIBS   = $(DNNL_LIB) -ljansson -lpng16 -lz $(MPI_LIBS) -fopenmp -lm -ldl
# The Lua module is a shared object: Debian's static archives are not position-independent.
MODULE_LDLIBS = $(DNNL_LIB) -ljansson -lpng16 -lz $(MPI_LIBS) -fopenmp -lm -ldl
# STATIC_LIBS=1: jansson, libpng and zlib linked statically into the programs, for a
# machine without them (scripts/gpu-check.sh).
ifeq ($(STATIC_LIBS),1)
LDLIBS   = $(DNNL_LIB) -Wl,-Bstatic -ljansson -lpng16 -lz -Wl,-Bdynamic $(MPI_LIBS) -fopenmp \
           -lm -ldl
endif

LIB_SRC     := $(CORE_SRC) $(KERNEL_SRC)
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/liblutra.a

# The Lua side: bindings (lua/l_*.c) for both the C module and the binary; the REPL's
# line editing (lua/l_repl.c, libedit) goes into the binary only.
REPL_SRC    := lua/l_repl.c
BIND_SRC    := $(filter-out $(REPL_SRC),$(wildcard lua/l_*.c))
BIND_OBJ    := $(BIND_SRC:%.c=$(BUILD)/%.o)
MODULE      := $(BUILD)/lutra.so
BINARY      := $(BUILD)/lutra

# The shared library a C host links (core/lutra_host.h, docs/embedding.md): the core, the
# bindings and the host API (lua/host.c), with Lua 5.4. Versioned: the soname changes with
# the ABI's major version.
HOST_OBJ    := $(BUILD)/lua/host.o
SO_VERSION  := 0.1.0
SONAME      := liblutra.so.0
SHARED_LIB  := $(BUILD)/liblutra.so.$(SO_VERSION)

TEST_SUPPORT_SRC := tests/op_check.c $(wildcard tests/cases_*.c) tests/train_util.c \
                    tests/device_shim.c
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

BENCH_BIN   := $(BUILD)/bench/bench_step $(BUILD)/bench/bench_layers $(BUILD)/bench/bench_loader \
               $(BUILD)/bench/fma_peak

# An emulated GPU (tests/emulated_device.c): the GPU training suite runs on it as well,
# so that the core's device paths are tested on machines without a card.
EMULATED_DEVICE := $(BUILD)/tests/lutra_emulated_device.so

# The CUDA plugin (lutra_cuda.so), built when nvcc is found; the core loads it with
# dlopen, so nothing else links CUDA. CUDA_ARCH lists the SM versions to build for.
CUDA_HOME   ?= /usr/local/cuda
NVCC        ?= $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_ARCH   ?= 80 90
CUDA_SRC    := $(wildcard kernels/cuda/*.cu)
CUDA_OBJ    := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
NVFLAGS     := -std=c++17 -O2 -g -I. -isystem $(CUDA_HOME)/include -Werror all-warnings \
               -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra \
               $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a))
PLUGIN      := $(if $(and $(NVCC),$(CUDA_SRC),$(if $(filter 1,$(SANITIZE)),,plugin)),$(BUILD)/lutra_cuda.so)

HAVE_LUA    := $(wildcard lua/main.c)
ALL_TARGETS := $(LIB) $(if $(HAVE_LUA),$(MODULE) $(BINARY) $(SHARED_LIB)) $(PLUGIN)

.PHONY: FORCE all deps test test-gpu gpu-check-dry-run check-clang train bench install clean
.SECONDARY:

all: deps $(ALL_TARGETS)

deps:
	@bash scripts/install-deps.sh

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

# `| deps`: the packages are in place before anything compiles, also under make -j.
$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The CPU kernels never read errno: without it sqrtf is one instruction, which lets the
# fast paths' loops (AdamW's) vectorise. Values do not change.
$(BUILD)/kernels/cpu/%.o: CFLAGS += -fno-math-errno

# Only the world's file speaks MPI (and the emulated device's collectives, in the process
# that file started). They are built again when the MPI switch changes: a stamp holds
# the flags, rewritten only when they differ.
$(BUILD)/core/dist.o $(BUILD)/tests/emulated_device.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/core/dist.o $(BUILD)/tests/emulated_device.o: $(BUILD)/mpi.flags
$(BUILD)/mpi.flags: FORCE | deps
	@mkdir -p $(dir $@)
	@echo '$(MPI_CFLAGS)' | cmp -s - $@ || echo '$(MPI_CFLAGS)' >$@
FORCE:

$(BUILD)/kernels/cuda/%.o: kernels/cuda/%.cu $(wildcard kernels/cuda/*.cuh) kernels/kernels.h \
                          kernels/ops.def kernels/ops.h kernels/attrs.def kernels/families.def \
                          kernels/half.h kernels/rng.h kernels/matmul_batch.h
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	@$(NVCC) $(NVFLAGS) -c $< -o $@

# The CUDA runtime is linked statically; cuBLAS and cuDNN come from the machine that runs
# it (its CUDA install, or LD_LIBRARY_PATH).
$(BUILD)/lutra_cuda.so: $(CUDA_OBJ)
	@echo "  LD      $@"
	@$(NVCC) -shared -o $@ $^ -cudart static -L$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudnn \
		-Xlinker -rpath=$(CUDA_HOME)/lib64 -Xlinker --no-undefined

# Where an installed lutra looks for its CUDA plugin (core/device.c).
$(BUILD)/core/device.o: CFLAGS += -DLT_PLUGIN_DIR='"$(PREFIX)/lib/lutra"'

$(MODULE): $(BIND_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -shared -o $@ $(BIND_OBJ) $(LIB) $(MODULE_LDLIBS)

# The links a host's -llutra and its loader follow, beside the real file.
$(SHARED_LIB): $(HOST_OBJ) $(BIND_OBJ) $(LIB_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ -llua5.4 \
		$(MODULE_LDLIBS)
	@ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	@ln -sf $(SONAME) $(BUILD)/liblutra.so

$(BINARY): $(BUILD)/lua/main.o $(REPL_SRC:%.c=$(BUILD)/%.o) $(BIND_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ -llua5.4 -ledit $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

# The host API's suite drives recipes: it links the bindings and Lua as well (also in a
# sanitizer build, which has no module).
$(BUILD)/tests/test_host: $(BUILD)/tests/test_host.o $(TEST_SUPPORT_OBJ) $(HOST_OBJ) $(BIND_OBJ) \
                          $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ -lcmocka -llua5.4 $(LDLIBS)

# core/dist.c built without MPI, linked ahead of the library (whose dist.o it replaces):
# the suite of what a build without MPI does under a launcher.
$(BUILD)/tests/dist_nompi.o: core/dist.c | deps
	@mkdir -p $(dir $@)
	@echo "  CC      $< (without MPI)"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/test_dist_nompi: $(BUILD)/tests/test_dist_nompi.o $(BUILD)/tests/dist_nompi.o \
                                $(TEST_SUPPORT_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(EMULATED_DEVICE): $(BUILD)/tests/emulated_device.o $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -shared -o $@ $^ $(MODULE_LDLIBS) -Wl,--no-undefined

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Sanitizer builds run the C suites only (.ci/run); a plain build runs everything.
test: deps $(TEST_BIN) $(EMULATED_DEVICE) $(if $(SANITIZE),,$(ALL_TARGETS))
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) bash scripts/run-tests.sh $(TEST_BIN)

# The GPU suites alone (they also run, skipped without a GPU, in `make test`).
GPU_TEST_BIN := $(filter %/test_gpu_ops %/test_gpu_train,$(TEST_BIN))
test-gpu: deps $(GPU_TEST_BIN) $(PLUGIN)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) bash scripts/run-tests.sh --c-only $(GPU_TEST_BIN)

train: all
	$(BINARY) train examples/fmnist_mlp.lua

bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) bash scripts/bench.sh

# Standard Lua 5.4 paths under PREFIX; luarocks passes its own (lutra-*.rockspec).
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
LUA_LIBDIR ?= $(PREFIX)/lib/lua/5.4
LUA_DIR    ?= $(PREFIX)/share/lua/5.4

# Where an installed liblutra.so looks for the Lua files when none are beside it.
$(HOST_OBJ): CFLAGS += -DLT_LUA_DIR='"$(LUA_DIR)"'

# The public headers keep their relative includes: lutra.h includes "kernels/ops.h".
PUBLIC_HEADERS := core/lutra.h core/lutra_host.h
KERNEL_HEADERS := kernels/ops.h $(wildcard kernels/*.def)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LUA_LIBDIR) $(DESTDIR)$(LUA_DIR)/lutra \
		$(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/lutra/kernels
	install -m 755 $(BINARY) $(DESTDIR)$(BINDIR)/lutra
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_LIBDIR)/lutra.so
	cd lua && find lutra -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(LUA_DIR)/{} \;
	$(if $(PLUGIN),install -D -m 755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/lutra/lutra_cuda.so)
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/lutra
	install -m 644 $(KERNEL_HEADERS) $(DESTDIR)$(INCLUDEDIR)/lutra/kernels
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/liblutra.a
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/liblutra.so.$(SO_VERSION)
	ln -sf liblutra.so.$(SO_VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/liblutra.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(SO_VERSION)|; s|@PRIVATE_LIBS@|$(DNNL_LIB) $(MPI_LIBS)|' lutra.pc.in \
		>$(DESTDIR)$(LIBDIR)/pkgconfig/lutra.pc
	@echo
	@echo "lutra is installed in $(PREFIX). For a stock lua5.4 to require \"lutra\" from it:"
	@echo "  export LUA_PATH='$(LUA_DIR)/?.lua;;'"
	@echo "  export LUA_CPATH='$(LUA_LIBDIR)/?.so;;'"
	@echo "A C host builds with: cc host.c \$$(pkg-config --cflags --libs lutra)"
	@echo "  (export PKG_CONFIG_PATH=$(LIBDIR)/pkgconfig; docs/embedding.md)"

# clang checks the same sources for warnings; gcc builds what runs.
check-clang:
	@for f in $(LIB_SRC) $(BIND_SRC) lua/host.c $(REPL_SRC) $(HAVE_LUA) $(TEST_SUPPORT_SRC) $(TEST_SRC) $(wildcard bench/*.c); do \
		clang $(CSTD) $(WARN) -I. $(SYS_INC) -isystem /usr/lib/llvm-14/lib/clang/14.0.6/include \
			-fopenmp $(DEFS) $(MPI_CFLAGS) -fsyntax-only $$f || exit 1; \
	done
	@echo "clang -fsyntax-only: clean"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
