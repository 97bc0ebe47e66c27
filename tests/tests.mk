# Tests: every tests/test_*.c is one cmocka program linked with
# libqstack; tests/modules/*.c are small modules built for the loader's
# refusal tests. tests/run-tests.sh runs them all and prints the total.

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_MOD_SRC := $(wildcard tests/modules/*.c)
TEST_MOD  := $(TEST_MOD_SRC:tests/modules/%.c=$(BUILD)/tests/modules/%.so)
TEST_HELPERS := $(wildcard tests/helpers/*.c)

$(BUILD)/tests/%: tests/%.c $(TEST_HELPERS) $(wildcard tests/helpers/*.h) \
    $(HEADERS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Iloader $(call pc_cflags,cmocka) -o $@ \
	    $< $(TEST_HELPERS) $(ALL_LDFLAGS) -L$(BUILD) -lqstack \
	    -Wl,-rpath,'$$ORIGIN/..' $(call pc_libs,cmocka) \
	    $(call pc_libs,zlib) -ldl

$(BUILD)/tests/modules/%.so: tests/modules/%.c api/qstack/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -shared -o $@ $< $(ALL_LDFLAGS)
	chmod 0755 $@

check: all $(TEST_BIN) $(TEST_MOD)
	@BUILD=$(BUILD) sh tests/run-tests.sh
