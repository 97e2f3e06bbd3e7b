# llmc: `make` builds build/libllmc.a and the tools; `make check` runs every
# test (ASan + UBSan); `make demo` streams an answer from bundled local
# providers; `make bench` prints the receive path's cost per byte.

CC      ?= cc
BUILD   ?= build
PYTHON  ?= /usr/bin/python3
CSTD    := -std=c99
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
OPT     ?= -O2 -g
CPPFLAGS_LLMC := -Iinclude -Isrc

# A Kconfig .config (make defconfig / menuconfig) overrides the defaults of
# include/llmc/llmc_config_defaults.h through a generated header. Without
# one, the Linux build uses roomier knobs than the MCU-sized defaults:
# 64 requests at once, 128 queued, 16 providers. MCU_KNOBS=1 builds with
# the MCU-sized defaults themselves, as a board without a .config gets them
# (use it with a BUILD of its own). DOTCONFIG=file builds with that .config
# instead of ./.config (also with a BUILD of its own; make check's
# unit-min-knobs step writes one with every knob at its Kconfig minimum).
DOTCONFIG ?= .config
ifneq ($(wildcard $(DOTCONFIG)),)
KCONFIG_H := $(BUILD)/kconfig/llmc_kconfig.h
CPPFLAGS_LLMC += -I$(BUILD)/kconfig -DLLMC_CONFIG_FILE='"llmc_kconfig.h"'
else ifneq ($(MCU_KNOBS),1)
CPPFLAGS_LLMC += -DLLMC_SLOTS=64 -DLLMC_CONNS=80 -DLLMC_QUEUE_LEN=128 \
                 -DLLMC_MAX_PROVIDERS=16 -DLLMC_IAM_PROVIDERS=4 \
                 -DLLMC_RECV_BUF_SIZE=16384 -DLLMC_POLL_EXTRA=256
endif

# The knobs in force, in a file that changes when they do, so that adding
# or removing .config rebuilds every object (MAKEFILES_DEP lists it).
KNOBS      := $(filter -D%,$(CPPFLAGS_LLMC))
KNOBS_FILE := $(BUILD)/knobs
ifneq ($(wildcard $(KNOBS_FILE))|$(file < $(KNOBS_FILE)),$(KNOBS_FILE)|$(KNOBS))
$(shell mkdir -p $(BUILD))
$(file > $(KNOBS_FILE),$(KNOBS))
endif

SRC      := $(wildcard src/*.c)
PORT_SRC := port/posix/llmc_port_posix.c port/posix/llmc_port_posix_os.c
TOOL_SRC := examples/posix/llmc_tool_config.c
TOOLS    := llmc-chat

LIBS := -lmbedtls -lmbedx509 -lmbedcrypto -lpthread

# ---- the normal build -------------------------------------------------------

OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(SRC) $(PORT_SRC))
TOBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRC))

.PHONY: all check demo bench clean deps menuconfig defconfig unit integration cflags coverage
all: deps $(BUILD)/libllmc.a $(addprefix $(BUILD)/,$(TOOLS))

deps:
	@bash scripts/deps.sh

# Objects depend on the makefiles and the knobs in force too: a changed
# knob (-DLLMC_..., or .config added or removed) must not leave objects
# built with the old one.
MAKEFILES_DEP := Makefile $(wildcard mk/*.mk) $(KNOBS_FILE)

$(BUILD)/obj/%.o: %.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(OPT) $(CPPFLAGS_LLMC) $(CFLAGS) -c $< -o $@

$(BUILD)/libllmc.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/llmc-chat: $(BUILD)/obj/examples/posix/llmc_chat.o $(TOBJ) $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

$(BUILD)/bench-recv: $(BUILD)/obj/tests/bench/bench_recv.o $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

# ---- sanitizer build for the tests --------------------------------------------

SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ABUILD   := $(BUILD)/asan
AOBJ     := $(patsubst %.c,$(ABUILD)/obj/%.o,$(SRC) $(PORT_SRC))
ATOBJ    := $(patsubst %.c,$(ABUILD)/obj/%.o,$(TOOL_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(patsubst tests/unit/%.c,$(ABUILD)/%,$(UNIT_SRC))

$(ABUILD)/obj/%.o: %.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(CPPFLAGS_LLMC) -Itests/unit -I$(BUILD)/gen $(CFLAGS) -c $< -o $@

# test_engine replays fuzz_client's seeds, embedded (also for the MCUs)
ENGINE_CORPUS := $(BUILD)/gen/engine_corpus.h
$(ENGINE_CORPUS): scripts/embed-corpus.py tests/fuzz/corpus/client \
                  $(wildcard tests/fuzz/corpus/client/*)
	@mkdir -p $(dir $@)
	python3 scripts/embed-corpus.py tests/fuzz/corpus/client $@
ENGINE_DEPS   := $(ENGINE_CORPUS) tests/fuzz/fuzz_client.c $(wildcard tests/fuzz/*.h)
$(ABUILD)/obj/tests/unit/test_engine.o: $(ENGINE_DEPS)

$(ABUILD)/libllmc.a: $(AOBJ)
	@rm -f $@
	ar rcs $@ $^

$(ABUILD)/llmc-chat: $(ABUILD)/obj/examples/posix/llmc_chat.o $(ATOBJ) $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

ITOOLS := llmc-seq llmc-multi
$(ABUILD)/llmc-seq: $(ABUILD)/obj/tests/integration/llmc_seq.o $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@
$(ABUILD)/llmc-multi: $(ABUILD)/obj/tests/integration/llmc_multi.o $(ABUILD)/obj/examples/posix/llmc_tool_config.o $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

# llmc-chat built whole (library, port, tool) with other knobs, in its own
# directory, since a knob may change llmc_client_t:
# $(call CLI_VARIANT,dir under $(ABUILD),preprocessor flags)
define CLI_VARIANT
$(ABUILD)/$(1)/obj/%.o: %.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CSTD) $$(WARN) -O1 -g $$(SAN) $(2) $$(CFLAGS) -c $$< -o $$@

$(ABUILD)/$(1)/llmc-chat: $(patsubst %.c,$(ABUILD)/$(1)/obj/%.o,$(SRC) $(PORT_SRC) $(TOOL_SRC) examples/posix/llmc_chat.c)
	$$(CC) $$(SAN) $$^ $$(LIBS) -o $$@
endef

# Evolution IAM compiled out (LLMC_IAM_PROVIDERS=0), as a firmware that
# only uses API keys builds llmc
NBUILD   := $(ABUILD)/noiam
$(eval $(call CLI_VARIANT,noiam,$(filter-out -DLLMC_IAM_PROVIDERS=%,$(CPPFLAGS_LLMC)) -DLLMC_IAM_PROVIDERS=0))

# Every log line compiled in (LLMC_LOG_LEVEL=4): the tests read what it
# logs, and check that no secret is among it
GBUILD   := $(ABUILD)/log4
$(eval $(call CLI_VARIANT,log4,$(CPPFLAGS_LLMC) -DLLMC_LOG_LEVEL=4))

# The CLI over a POSIX port whose connect has finished when it returns (as
# blocking stacks' do): the variant port object comes before libllmc.a, so
# the archive's port is not linked
SBUILD := $(ABUILD)/syncconnect
$(SBUILD)/llmc_port_posix.o: port/posix/llmc_port_posix.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(CPPFLAGS_LLMC) -DLLMC_POSIX_CONNECT_WAIT_MS=2000 $(CFLAGS) -c $< -o $@

$(SBUILD)/llmc-chat: $(ABUILD)/obj/examples/posix/llmc_chat.o $(ATOBJ) $(SBUILD)/llmc_port_posix.o $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LIBS) -o $@

$(ABUILD)/test_%: $(ABUILD)/obj/tests/unit/test_%.o $(ABUILD)/libllmc.a
	$(CC) $(SAN) $^ -lcmocka $(LIBS) -o $@

unit: deps $(UNITS)
	@bash scripts/run-unit.sh $(UNITS)

# The plain llmc-chat over the POSIX port whose connect has finished when
# it returns, so that the first TLS handshake step runs inside
# llmc_conn_open() (test_library.MemoryTests, with fail_calloc.so)
$(BUILD)/syncconnect/llmc_port_posix.o: port/posix/llmc_port_posix.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(OPT) $(CPPFLAGS_LLMC) -DLLMC_POSIX_CONNECT_WAIT_MS=2000 $(CFLAGS) -c $< -o $@

$(BUILD)/syncconnect/llmc-chat: $(BUILD)/obj/examples/posix/llmc_chat.o $(TOBJ) $(BUILD)/syncconnect/llmc_port_posix.o $(BUILD)/libllmc.a
	$(CC) $(OPT) $^ $(LIBS) -o $@

# LD_PRELOAD'ed into the plain llmc-chat: a heap too short for mbedTLS's
# record buffers (test_library.MemoryTests)
$(BUILD)/fail_calloc.so: tests/integration/fail_calloc.c $(MAKEFILES_DEP)
	$(CC) $(WARN) -O1 -shared -fPIC $< -o $@ -ldl

# and one whose socket() fails, as at the file descriptor limit
$(BUILD)/fail_socket.so: tests/integration/fail_socket.c $(MAKEFILES_DEP)
	$(CC) $(WARN) -O1 -shared -fPIC $< -o $@ -ldl

integration: deps $(ABUILD)/llmc-chat $(addprefix $(ABUILD)/,$(ITOOLS)) $(BUILD)/llmc-chat $(BUILD)/syncconnect/llmc-chat $(BUILD)/fail_calloc.so $(BUILD)/fail_socket.so $(NBUILD)/llmc-chat $(SBUILD)/llmc-chat $(GBUILD)/llmc-chat
	LLMC_CHAT=$(abspath $(ABUILD))/llmc-chat LLMC_BUILD=$(abspath $(ABUILD)) LLMC_CHAT_PLAIN=$(abspath $(BUILD))/llmc-chat $(PYTHON) tests/integration/run.py $(INTEGRATION_ARGS)

check: deps all
	@bash scripts/check.sh

# Lines and branches of src/ that make unit and make integration run
# (gcov; a figure, not a test)
coverage: deps
	@BUILD=$(BUILD) bash scripts/coverage.sh

# The flags a program that includes llmc/llmc_client.h needs to get the
# llmc_client_t that $(BUILD)/libllmc.a was built for (its size follows the
# knobs): cc $$(make -s cflags) app.c build/libllmc.a $(LIBS)
cflags: $(KCONFIG_H)
	@echo -I$(abspath include) $(if $(KCONFIG_H),-I$(abspath $(BUILD)/kconfig)) $(KNOBS)

demo: all
	@bash scripts/demo.sh

bench: all
	@bash scripts/bench.sh

# ---- Kconfig ---------------------------------------------------------------

$(BUILD)/kconfig/llmc_kconfig.h: $(DOTCONFIG) Kconfig
	@mkdir -p $(dir $@)
	KCONFIG_CONFIG=$(DOTCONFIG) $(PYTHON) -m genconfig --header-path $@ Kconfig

defconfig: deps
	rm -f .config
	KCONFIG_CONFIG=.config $(PYTHON) -m olddefconfig Kconfig

menuconfig: deps
	KCONFIG_CONFIG=.config MENUCONFIG_STYLE=aquatic $(PYTHON) -m menuconfig Kconfig

clean:
	rm -rf $(BUILD)

# objects reached through pattern chains (the unit tests) are kept
.PRECIOUS: $(BUILD)/obj/%.o $(ABUILD)/obj/%.o

# Further targets (cross builds, ports, benchmarks) live in mk/*.mk.
-include $(wildcard mk/*.mk)
