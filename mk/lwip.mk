# lwIP port (port/lwip) built on Linux against Debian's liblwip, with the
# sanitizers: `make lwip` gives build/lwip/libllmc.a (src/ + port/lwip) and
# build/lwip/llmc-chat, llmc-seq, llmc-multi, llmc-conc, llmc-check and
# llmc-gather, whose sockets are lwIP's on a
# TAP device (tests/lwip/lwip_boot.c brings lwIP up before main), and
# test-port-lwip, which calls the port's functions directly.
# scripts/check.d/lwip.sh runs the integration suite with them.
#
# `make lwip-variants` compiles port/lwip/llmc_port_lwip.c once more for
# each lwIP configuration Debian's library does not have (DNS on,
# lwip_select instead of lwip_poll, IPv4 only, IPv6 only) through the option
# overlays in tests/lwip/opts-*/lwipopts.h: compile only, nothing links.

LBUILD        := $(BUILD)/lwip
# Recursively expanded: pkg-config runs when a recipe needs it, i.e. after
# `make lwip` has installed liblwip-dev. lwIP's headers as system headers
# (its own code is not ours to warn about); _DEFAULT_SOURCE because Debian's
# arch.h takes ssize_t from <unistd.h> only when SSIZE_MAX is defined, which
# strict -std=c99 hides.
LWIP_CFLAGS    = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags lwip)) \
                 -D_DEFAULT_SOURCE
LWIP_LIBS      = $(shell pkg-config --libs lwip)
LWIP_PORT_SRC := port/lwip/llmc_port_lwip.c port/lwip/llmc_port_lwip_unix.c \
                 port/posix/llmc_port_posix_os.c
LOBJ          := $(patsubst %.c,$(ABUILD)/obj/%.o,$(SRC)) \
                 $(patsubst %.c,$(LBUILD)/obj/%.o,$(LWIP_PORT_SRC))
LBOOT         := $(LBUILD)/obj/tests/lwip/lwip_boot.o
LTOOLS        := $(addprefix $(LBUILD)/,llmc-chat llmc-seq llmc-multi llmc-conc \
                   llmc-check llmc-gather test-port-lwip)
LWIP_VARIANTS := dns select ipv4 ipv6

.PHONY: lwip lwip-tools lwip-variants

lwip:
	@bash scripts/deps.sh liblwip-dev
	@$(MAKE) --no-print-directory lwip-tools lwip-variants

lwip-tools: $(LTOOLS)

$(LBUILD)/obj/%.o: %.c $(KCONFIG_H) $(MAKEFILES_DEP) $(wildcard include/llmc/*.h port/lwip/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(CPPFLAGS_LLMC) -Iport/lwip $(LWIP_CFLAGS) $(CFLAGS) -c $< -o $@

$(LBUILD)/libllmc.a: $(LOBJ)
	@rm -f $@
	ar rcs $@ $^

# lwip_boot.o is linked as an object, not from an archive, so that its
# constructor is always part of the program.
$(LBUILD)/llmc-chat: $(ABUILD)/obj/examples/posix/llmc_chat.o $(ATOBJ) $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@
$(LBUILD)/llmc-seq: $(ABUILD)/obj/tests/integration/llmc_seq.o $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@
$(LBUILD)/llmc-multi: $(ABUILD)/obj/tests/integration/llmc_multi.o $(ABUILD)/obj/examples/posix/llmc_tool_config.o $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@

$(LBUILD)/llmc-check: $(ABUILD)/obj/examples/posix/llmc_check.o $(ATOBJ) $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@
$(LBUILD)/llmc-gather: $(ABUILD)/obj/examples/posix/llmc_gather.o $(ATOBJ) $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@
# llmc-conc counts its open sockets in lwIP's table instead of /proc/self/fd
$(LBUILD)/obj/tests/integration/llmc_conc.o: CFLAGS += -DLLMC_CONC_LWIP
$(LBUILD)/llmc-conc: $(LBUILD)/obj/tests/integration/llmc_conc.o $(ATOBJ) $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@

$(LBUILD)/test-port-lwip: $(LBUILD)/obj/tests/lwip/test_port_lwip.o $(LBOOT) $(LBUILD)/libllmc.a
	$(CC) $(SAN) $^ $(LWIP_LIBS) $(LIBS) -o $@

lwip-variants: $(foreach v,$(LWIP_VARIANTS),$(LBUILD)/variant/$(v)/llmc_port_lwip.o)

$(LBUILD)/variant/%/llmc_port_lwip.o: port/lwip/llmc_port_lwip.c tests/lwip/opts-%/lwipopts.h $(wildcard include/llmc/*.h port/lwip/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -pedantic $(WARN) -Wconversion -Wno-sign-conversion -Os $(CPPFLAGS_LLMC) -Iport/lwip -Itests/lwip/opts-$* $(LWIP_CFLAGS) $(CFLAGS) -c $< -o $@
