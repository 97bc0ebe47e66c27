# qstack: one GNU Makefile. Dependencies are found with pkg-config.
#
#   make                 build/qstack, build/libqstack.so, build/plugins/*.so
#   make check           every test; ends with "N passed, N failed"
#   make check SANITIZE=1  the same under ASan and UBSan, in build-sanitize/
#   make demo            import, export and compare the ham corpus
#   make fuzz            run every libFuzzer target (tests/fuzz/fuzz.mk)

PREFIX    ?= /usr/local
CC        ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),1)
BUILD     ?= build-sanitize
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
else
BUILD     ?= build
SANFLAGS  :=
endif

WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wno-unused-parameter
CFLAGS    ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC $(WARN) $(CFLAGS) $(SANFLAGS) \
             -Iapi -DQS_PLUGIN_DIR='"$(PREFIX)/lib/qstack/plugins"'
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS)

pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1))

# Libraries each module links against, by folder name.
LIBS_compress-zlib   := $(call pc_libs,zlib)
LIBS_compress-lz4    := $(call pc_libs,liblz4)
LIBS_crypto-evp      := $(call pc_libs,libcrypto)
LIBS_queue-fs        :=
CFLAGS_compress-zlib := $(call pc_cflags,zlib)
CFLAGS_compress-lz4  := $(call pc_cflags,liblz4)
CFLAGS_crypto-evp    := $(call pc_cflags,libcrypto)

PLUGINS   := $(notdir $(wildcard plugins/*))
PLUGIN_SO := $(PLUGINS:%=$(BUILD)/plugins/%.so)

LOADER_SRC := $(wildcard loader/*.c)
LOADER_OBJ := $(LOADER_SRC:%.c=$(BUILD)/%.o)
CLI_SRC    := $(wildcard cli/*.c)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
HEADERS    := $(wildcard api/qstack/*.h loader/*.h cli/*.h)

LIB        := $(BUILD)/libqstack.so
QSTACK     := $(BUILD)/qstack

.PHONY: all check demo clean install
.DELETE_ON_ERROR:

all: $(LIB) $(QSTACK) $(PLUGIN_SO)

$(BUILD)/loader/%.o: loader/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -DQS_BUILDING_LIBRARY \
	    $(call pc_cflags,zlib) -c -o $@ $<

$(LIB): $(LOADER_OBJ)
	$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) -ldl $(call pc_libs,zlib)

$(BUILD)/cli/%.o: cli/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(QSTACK): $(CLI_OBJ) $(LIB)
	$(CC) -o $@ $(CLI_OBJ) $(ALL_LDFLAGS) -L$(BUILD) -lqstack \
	    -Wl,-rpath,'$$ORIGIN'

# Modules: every .c file of plugins/NAME/ goes into build/plugins/NAME.so,
# with everything but the entry symbol hidden.
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/%/*.c) $$(wildcard plugins/%/*.h) \
    api/qstack/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CFLAGS_$*) -fvisibility=hidden -shared -o $@ \
	    $(filter %.c,$^) $(ALL_LDFLAGS) $(LIBS_$*)
	chmod 0755 $@

include tests/tests.mk
include tests/faultshim/faultshim.mk
include tests/fuzz/fuzz.mk

demo: all
	sh scripts/run-demo.sh

clean:
	rm -rf build build-sanitize

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/qstack/plugins \
	    $(DESTDIR)$(PREFIX)/include/qstack
	install -m 0755 $(QSTACK) $(DESTDIR)$(PREFIX)/bin/qstack
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libqstack.so
	install -m 0755 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/qstack/plugins/
	install -m 0644 api/qstack/*.h $(DESTDIR)$(PREFIX)/include/qstack/
