# llmc-check (every working provider at once, gpt4free's test_async),
# llmc-gather (the smallest submit-many/poll-until-done example) and
# llmc-conc (the driver of tests/integration/test_concurrency.py).
#
# The Makefile expands $(TOOLS) and $(ITOOLS) in the prerequisites of `all`
# and `integration` before it includes mk/*.mk, so appending to those
# variables here would come too late: the two targets get extra
# prerequisites instead, which make merges with their own.

CHECK_TOOLS  := llmc-check llmc-gather
CHECK_ITOOLS := llmc-check llmc-gather llmc-conc

all: $(addprefix $(BUILD)/,$(CHECK_TOOLS))
integration: $(addprefix $(ABUILD)/,$(CHECK_ITOOLS))

$(BUILD)/llmc-check: $(BUILD)/obj/examples/posix/llmc_check.o $(TOBJ) $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

$(BUILD)/llmc-gather: $(BUILD)/obj/examples/posix/llmc_gather.o $(TOBJ) $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

$(ABUILD)/llmc-check: $(ABUILD)/obj/examples/posix/llmc_check.o $(ATOBJ) $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

$(ABUILD)/llmc-gather: $(ABUILD)/obj/examples/posix/llmc_gather.o $(ATOBJ) $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

$(ABUILD)/llmc-conc: $(ABUILD)/obj/tests/integration/llmc_conc.o $(ATOBJ) $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

# llmc-conc, library and port built with ThreadSanitizer instead of ASan:
# test_library's thread test submits and cancels from a second thread
# while the main one polls, and any data race ends the run
TBUILD := $(ABUILD)/tsan
integration: $(TBUILD)/llmc-conc

$(TBUILD)/obj/%.o: %.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g -fsanitize=thread $(CPPFLAGS_LLMC) $(CFLAGS) -c $< -o $@

$(TBUILD)/llmc-conc: $(patsubst %.c,$(TBUILD)/obj/%.o,$(SRC) $(PORT_SRC) $(TOOL_SRC) tests/integration/llmc_conc.c)
	$(CC) -fsanitize=thread $^ $(LIBS) -o $@
