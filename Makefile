# lutra's build. `make` builds liblutra.a; `make test` builds and runs every suite.
# SANITIZE=1 builds everything with ASan+UBSan under build/asan.

CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L
INC     := -I.
OPT     ?= -O2 -g

ifeq ($(SANITIZE),1)
BUILD   := build/asan
OPT     := -O1 -g -fno-omit-frame-pointer
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   := build/release
SAN     :=
endif

CFLAGS  := $(CSTD) $(OPT) $(WARN) $(INC) -fPIC $(SAN) $(EXTRA_CFLAGS)
LDLIBS  := -lm

CORE_SRC    := $(wildcard core/*.c core/ops/*.c)
KERNEL_SRC  := $(wildcard kernels/cpu/*.c)
LIB_SRC     := $(CORE_SRC) $(KERNEL_SRC)
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/liblutra.a

TEST_SUPPORT_SRC := tests/op_check.c $(wildcard tests/cases_*.c) tests/train_util.c
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all deps test check-clang clean
.SECONDARY:

all: deps $(LIB)

deps:
	@bash scripts/install-deps.sh

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

test: deps $(TEST_BIN)
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) bash scripts/run-tests.sh $(TEST_BIN)

# clang checks the same sources for warnings; gcc builds what runs.
check-clang:
	@for f in $(LIB_SRC) $(TEST_SUPPORT_SRC) $(TEST_SRC); do \
		clang $(CSTD) $(WARN) $(INC) -fsyntax-only $$f || exit 1; \
	done
	@echo "clang -fsyntax-only: clean"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
