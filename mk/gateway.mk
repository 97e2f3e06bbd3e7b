# llmc-gateway (examples/posix/llmc_gateway.c): the OpenAI-compatible HTTP
# gateway, its ASan build for tests/integration/test_gateway.py, and
# `make soak`: a 30-second wrk load against the -O2 build in front of a
# local test provider, failing on any error or wrong answer.

all: $(BUILD)/llmc-gateway
integration: $(ABUILD)/llmc-gateway

$(BUILD)/llmc-gateway: $(BUILD)/obj/examples/posix/llmc_gateway.o $(TOBJ) $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

$(ABUILD)/llmc-gateway: $(ABUILD)/obj/examples/posix/llmc_gateway.o $(ATOBJ) $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

SOAK_SECONDS ?= 30

.PHONY: soak soak-deps
# the packages first: building the gateway needs them too
soak-deps:
	@bash scripts/deps.sh wrk

soak: soak-deps $(BUILD)/llmc-gateway
	SOAK_SECONDS=$(SOAK_SECONDS) LLMC_GATEWAY=$(abspath $(BUILD))/llmc-gateway $(PYTHON) tests/gateway/soak.py

# Request numbers are converted to integers: gcc's -fsanitize=undefined
# leaves out checking that a conversion is in range, so the sanitizer build
# of the gateway adds it.
$(ABUILD)/obj/examples/posix/llmc_gateway.o: CFLAGS += -fsanitize=float-cast-overflow
