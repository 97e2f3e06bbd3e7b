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
