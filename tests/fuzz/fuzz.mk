# libFuzzer targets, built with clang and -fsanitize=fuzzer,address,
# undefined. The Makefile includes this file; it also works on its own
# beside the Makefile: make -f Makefile -f tests/fuzz/fuzz.mk fuzz
#
#   make fuzz        build every target into $(BUILD)/fuzz/ and run each
#                    for FUZZ_RUNS executions (default 200000) on a copy
#                    of its seed corpus, in $(BUILD)/fuzz/work/
#   make fuzz-build  build the targets only
#   make fuzz-seeds  rewrite tests/fuzz/corpus/ with the real modules and
#                    the real loader (needs make all first)
#
# FUZZ_TIME caps each run in seconds (0, the default, sets no cap) and
# FUZZ_SEED fixes libFuzzer's random seed. The targets load copies of the
# modules that are built with the same instrumentation, from
# $(BUILD)/fuzz/plugins, so that libFuzzer follows the coverage inside the
# modules and AddressSanitizer checks their memory accesses.

ifndef QS_FUZZ_MK
QS_FUZZ_MK := 1

BUILD       ?= build
PKG_CONFIG  ?= pkg-config
LOADER_SRC  ?= $(wildcard loader/*.c)
HEADERS     ?= $(wildcard api/qstack/*.h loader/*.h)

FUZZ_CC     ?= clang
FUZZ_RUNS   ?= 200000
FUZZ_TIME   ?= 0
FUZZ_SEED   ?=
FUZZ_DIR    := $(BUILD)/fuzz
FUZZ_TARGETS := config header zlib lz4 evp read
FUZZ_BIN    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_MODULES := compress-zlib compress-lz4 crypto-evp queue-fs
FUZZ_MODULE_SO := $(FUZZ_MODULES:%=$(FUZZ_DIR)/plugins/%.so)

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
FUZZ_WARN   := -Wall -Wextra -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral \
               -Wno-unused-parameter
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(FUZZ_WARN) $(FUZZ_SAN) \
               -Iapi -Iloader -Itests/fuzz \
               -DQS_PLUGIN_DIR='"/nonexistent"' \
               -DQS_FUZZ_PLUGIN_DIR='"$(abspath $(BUILD))/plugins"'
# $(call fuzz_pc,cflags|libs,PACKAGE): pkg-config output, empty for none.
fuzz_pc = $(if $(2),$(shell $(PKG_CONFIG) --$(1) $(2)))
FUZZ_ZLIB_CFLAGS = $(call fuzz_pc,cflags,zlib)
FUZZ_ZLIB_LIBS   = $(call fuzz_pc,libs,zlib)

FUZZ_COMMON := tests/fuzz/fuzz_common.c
FUZZ_DEPS   := $(FUZZ_COMMON) tests/fuzz/fuzz_common.h $(HEADERS)
FUZZ_LOADER_OBJ := $(LOADER_SRC:loader/%.c=$(FUZZ_DIR)/loader/%.o)
FUZZ_CODEC  := tests/fuzz/fuzz_codec.c

.PHONY: fuzz fuzz-build fuzz-seeds

fuzz-build: $(FUZZ_BIN) $(FUZZ_MODULE_SO)

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TIME=$(FUZZ_TIME) \
	    FUZZ_SEED=$(FUZZ_SEED) sh tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)

# The loader, with coverage for libFuzzer but without its main.
$(FUZZ_DIR)/loader/%.o: loader/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(FUZZ_ZLIB_CFLAGS) -c -o $@ $<

# Targets that call the loader directly.
$(FUZZ_DIR)/fuzz_config $(FUZZ_DIR)/fuzz_header $(FUZZ_DIR)/fuzz_read: \
    $(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS) $(FUZZ_LOADER_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_COMMON) \
	    $(FUZZ_LOADER_OBJ) -ldl $(FUZZ_ZLIB_LIBS)

# Targets that drive one module through its transform ops.
$(FUZZ_DIR)/fuzz_zlib $(FUZZ_DIR)/fuzz_lz4 $(FUZZ_DIR)/fuzz_evp: \
    $(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_CODEC) \
    tests/fuzz/fuzz_codec.h $(FUZZ_DEPS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_CODEC) \
	    $(FUZZ_COMMON) -ldl

# Instrumented copies of the modules. The loader refuses a module whose
# directory is writable by group or others, hence the chmod.
.SECONDEXPANSION:
$(FUZZ_DIR)/plugins/%.so: $$(wildcard plugins/%/*.c) \
    $$(wildcard plugins/%/*.h) api/qstack/plugin.h
	@mkdir -p $(dir $@)
	@chmod 0755 $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -fPIC \
	    $(call fuzz_pc,cflags,$(FUZZ_PKG_$*)) \
	    -fvisibility=hidden -shared -o $@ $(filter %.c,$^) \
	    $(call fuzz_pc,libs,$(FUZZ_PKG_$*))
	chmod 0755 $@

FUZZ_PKG_compress-zlib := zlib
FUZZ_PKG_compress-lz4  := liblz4
FUZZ_PKG_crypto-evp    := libcrypto
FUZZ_PKG_queue-fs      :=

# The seed generator: a plain build, since it only writes files.
$(FUZZ_DIR)/make_seeds: tests/fuzz/make_seeds.c $(FUZZ_DEPS) $(LOADER_SRC)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(FUZZ_WARN) -Iapi -Iloader \
	    -Itests/fuzz -DQS_PLUGIN_DIR='"/nonexistent"' \
	    -DQS_FUZZ_PLUGIN_DIR='"$(abspath $(BUILD))/plugins"' \
	    $(FUZZ_ZLIB_CFLAGS) -o $@ $< $(FUZZ_COMMON) $(LOADER_SRC) -ldl \
	    $(FUZZ_ZLIB_LIBS)

fuzz-seeds: $(FUZZ_DIR)/make_seeds $(PLUGIN_SO)
	sh tests/fuzz/make_seeds.sh $(FUZZ_DIR)/make_seeds

endif
