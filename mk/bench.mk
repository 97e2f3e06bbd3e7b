# make bench, concurrent part: 64 streamed requests on one thread
# (scripts/bench-concurrent.sh), built -O2 like the library.
$(BUILD)/bench-concurrent: $(BUILD)/obj/tests/bench/bench_concurrent.o $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@
