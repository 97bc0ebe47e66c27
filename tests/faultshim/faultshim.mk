# The fault-injection library that tests/test_faults.c preloads into the
# qstack command. It is built without sanitizers, so the same library
# can be preloaded into an ordinary and a sanitized build.
FAULTSHIM := $(BUILD)/tests/faultshim.so

$(FAULTSHIM): tests/faultshim/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -fPIC $(WARN) $(CFLAGS) -shared -o $@ \
	    $< -ldl

check: $(FAULTSHIM)
