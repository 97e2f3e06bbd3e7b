# Cross builds of src/ for microcontrollers, their code-size table, and the
# unit tests on emulated MCUs.
#
#   make cross      src/ with -Os for Cortex-M4, RV32IMC and Xtensa LX106:
#                   build/cross/<t>/ (jsmn.h is copied to build/cross/include
#                   for the unit tests, which parse requests back with it)
#   make size       per-file text+data table and the client's RAM parts,
#                   also written to build/size.txt (scripts/size.sh)
#   make mcu-tests  tests/unit/test_*.c for Cortex-M4, RV32IMC and Xtensa
#                   LX106 against a cmocka subset (tests/mcu/cmocka.h) and a
#                   bare-metal port
#   make mcu-unit   runs them on qemu (scripts/check.d/mcu.sh, also a step
#                   of make check)
#
# Everything is built with the MCU defaults of llmc_config_defaults.h, not
# the Linux build's roomier knobs, and with LLMC_TLS=0: Debian has no
# mbedTLS for these targets. The TLS glue is measured apart, against
# Debian's host mbedTLS 2.28 headers (its config, not an SDK's).

CROSS_DIR  := $(BUILD)/cross
CROSS_PKGS := libjsmn-dev gcc-arm-none-eabi picolibc-arm-none-eabi \
              gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf \
              gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf \
              qemu-system-arm qemu-system-misc
CROSS_TARGETS := arm rv32 xtensa
MCU_TARGETS   := arm rv32 xtensa

# maybe-uninitialized stays a warning: its false positives vary with the
# compiler and target (xtensa-lx106 gcc 12 flags scan_string in llmc_json.c)
CROSS_WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wno-error=maybe-uninitialized
CROSS_CPP  := -Iinclude -Isrc -I$(CROSS_DIR)/include -DNDEBUG
# Debian's mbedTLS config minus what a bare-metal libc lacks: pthread
# threading and file I/O (which PSA key storage in files needs)
CROSS_TLS_CPP := -I$(CROSS_DIR)/tls-include \
                 -DMBEDTLS_USER_CONFIG_FILE='"llmc_cross_mbedtls.h"'

# Cortex-M4F, flags as in FreeRTOS's size tables; picolibc
CROSS_PREFIX_arm := arm-none-eabi-
CROSS_CFLAGS_arm := -std=gnu99 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard \
                    -mfpu=fpv4-sp-d16 -Os --specs=picolibc.specs
CROSS_NAME_arm   := cortex-m4
# mps2-an386: 4 MB of code RAM at 0, 4 MB of data RAM at 0x20000000
CROSS_LDFLAGS_arm := --oslib=semihost \
    -Wl,--defsym=__flash=0x0 -Wl,--defsym=__flash_size=0x400000 \
    -Wl,--defsym=__ram=0x20000000 -Wl,--defsym=__ram_size=0x400000 \
    -Wl,--defsym=__stack_size=0x10000

# RV32IMC (the ESP32-C3's ISA); picolibc has no rv32imc multilib and links
# its rv32im one, which runs on the same core
CROSS_PREFIX_rv32 := riscv64-unknown-elf-
CROSS_CFLAGS_rv32 := -std=gnu99 -march=rv32imc -mabi=ilp32 -Os \
                     --specs=picolibc.specs
CROSS_NAME_rv32   := rv32imc
# qemu virt: RAM from 0x80000000
CROSS_LDFLAGS_rv32 := --oslib=semihost \
    -Wl,--defsym=__flash=0x80000000 -Wl,--defsym=__flash_size=0x200000 \
    -Wl,--defsym=__ram=0x80200000 -Wl,--defsym=__ram_size=0x600000 \
    -Wl,--defsym=__stack_size=0x10000

# Xtensa LX106 (ESP8266's core; ESP32's LX6/LX7 are not in Debian), call0
# ABI, picolibc; gcc finds picolibc.specs only by its path. The tests run
# on qemu's sim machine (tests/mcu/xtensa-sim.ld), whose LX106 traps on an
# unaligned load or store as the chip does. Debian's libgcc for it leaves
# out what the ESP8266 ROM provides (division, 64-bit multiply, float add
# and multiply): tests/mcu/xtensa_rom.c stands in for the ROM.
CROSS_PREFIX_xtensa := xtensa-lx106-elf-
CROSS_CFLAGS_xtensa := -std=gnu99 -mlongcalls -Os \
                       --specs=/usr/lib/xtensa-lx106-elf/picolibc.specs
CROSS_NAME_xtensa   := xtensa-lx106
CROSS_LDFLAGS_xtensa := -T tests/mcu/xtensa-sim.ld
MCU_EXTRA_xtensa    := xtensa_start xtensa_sim xtensa_rom

MCU_UNIT_SRC := $(wildcard tests/unit/test_*.c)
MCU_TEST_CPP := -Itests/mcu -Itests/unit -I$(BUILD)/gen

.PHONY: cross size mcu-tests mcu-unit cross-deps

cross-deps:
	@bash scripts/deps.sh $(CROSS_PKGS)

$(CROSS_DIR)/include/jsmn.h: | cross-deps
	@mkdir -p $(@D)
	cp /usr/include/jsmn.h $@

$(CROSS_DIR)/tls-include/.stamp: | cross-deps
	@mkdir -p $(@D)
	cp -r /usr/include/mbedtls $(@D)/
	if [ -d /usr/include/psa ]; then cp -r /usr/include/psa $(@D)/; fi
	printf '%s\n' '#undef MBEDTLS_THREADING_C' '#undef MBEDTLS_THREADING_PTHREAD' \
	  '#undef MBEDTLS_FS_IO' '#undef MBEDTLS_PSA_ITS_FILE_C' > $(@D)/llmc_cross_mbedtls.h
	@touch $@

CROSS_HDRS := $(wildcard include/llmc/*.h src/*.h)

# $(1): target
define CROSS_RULES
CROSS_OBJ_$(1) := $$(patsubst src/%.c,$(CROSS_DIR)/$(1)/obj/%.o,$(SRC))

$(CROSS_DIR)/$(1)/obj/%.o: src/%.c $(CROSS_HDRS) $(MAKEFILES_DEP)
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) -DLLMC_TLS=0 -c $$< -o $$@

$(CROSS_DIR)/$(1)/libllmc.a: $$(CROSS_OBJ_$(1))
	@rm -f $$@
	$(CROSS_PREFIX_$(1))ar rcs $$@ $$^

$(CROSS_DIR)/$(1)/sizes.o: tests/mcu/sizes.c $(CROSS_HDRS)
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) -DLLMC_TLS=0 -fno-common -c $$< -o $$@

# the TLS glue: the two files that change with LLMC_TLS=1
$(CROSS_DIR)/$(1)/tls/%.o: src/%.c $(CROSS_HDRS) | $(CROSS_DIR)/tls-include/.stamp
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) $(CROSS_TLS_CPP) -DLLMC_TLS=1 -c $$< -o $$@

$(CROSS_DIR)/$(1)/tls/sizes.o: tests/mcu/sizes.c $(CROSS_HDRS) | $(CROSS_DIR)/tls-include/.stamp
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) $(CROSS_TLS_CPP) -DLLMC_TLS=1 -fno-common -c $$< -o $$@

# Evolution IAM compiled out (LLMC_IAM_PROVIDERS=0): size only
$(CROSS_DIR)/$(1)/noiam/%.o: src/%.c $(CROSS_HDRS) $(MAKEFILES_DEP)
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) -DLLMC_TLS=0 -DLLMC_IAM_PROVIDERS=0 -c $$< -o $$@

$(CROSS_DIR)/$(1)/noiam/sizes.o: tests/mcu/sizes.c $(CROSS_HDRS)
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(CROSS_CPP) -DLLMC_TLS=0 -DLLMC_IAM_PROVIDERS=0 -fno-common -c $$< -o $$@
endef

# $(1): target that runs on qemu
define MCU_RULES
MCU_ELFS_$(1) := $$(patsubst tests/unit/%.c,$(CROSS_DIR)/$(1)/unit/%.elf,$(MCU_UNIT_SRC))

$(CROSS_DIR)/$(1)/unit/%.o: tests/unit/%.c $(CROSS_HDRS) $(wildcard tests/unit/*.h tests/mcu/*.h) | $(CROSS_DIR)/include/jsmn.h
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(MCU_TEST_CPP) $(CROSS_CPP) -DLLMC_TLS=0 -c $$< -o $$@

$(CROSS_DIR)/$(1)/unit/test_engine.o: $(ENGINE_DEPS)

$(CROSS_DIR)/$(1)/mcu/%.o: tests/mcu/%.c $(CROSS_HDRS) tests/mcu/cmocka.h | $(CROSS_DIR)/include/jsmn.h
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_WARN) $(MCU_TEST_CPP) $(CROSS_CPP) -DLLMC_TLS=0 -c $$< -o $$@

$(CROSS_DIR)/$(1)/mcu/%.o: tests/mcu/%.S
	@mkdir -p $$(@D)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) -c $$< -o $$@

# the stub port in an archive: a test that brings its own port (test_engine)
# does not link it
$(CROSS_DIR)/$(1)/mcu/libport_stub.a: $(CROSS_DIR)/$(1)/mcu/port_stub.o
	@rm -f $$@
	$(CROSS_PREFIX_$(1))ar rcs $$@ $$^

$(CROSS_DIR)/$(1)/unit/%.elf: $(CROSS_DIR)/$(1)/unit/%.o $(CROSS_DIR)/$(1)/mcu/cmocka_shim.o $(CROSS_DIR)/$(1)/mcu/fault.o $(foreach o,$(MCU_EXTRA_$(1)),$(CROSS_DIR)/$(1)/mcu/$(o).o) $(CROSS_DIR)/$(1)/libllmc.a $(CROSS_DIR)/$(1)/mcu/libport_stub.a $(wildcard tests/mcu/*.ld)
	$(CROSS_PREFIX_$(1))gcc $(CROSS_CFLAGS_$(1)) $(CROSS_LDFLAGS_$(1)) -Wl,--wrap=main $$(filter-out %.ld,$$^) -o $$@
endef

$(foreach t,$(CROSS_TARGETS),$(eval $(call CROSS_RULES,$(t))))
$(foreach t,$(MCU_TARGETS),$(eval $(call MCU_RULES,$(t))))

CROSS_TLS_TARGETS := arm rv32 xtensa
CROSS_ALL := $(foreach t,$(CROSS_TARGETS),$(CROSS_DIR)/$(t)/libllmc.a \
                 $(CROSS_DIR)/$(t)/sizes.o) \
             $(foreach t,$(CROSS_TLS_TARGETS),$(CROSS_DIR)/$(t)/tls/llmc_conn.o \
                 $(CROSS_DIR)/$(t)/tls/llmc_client.o $(CROSS_DIR)/$(t)/tls/sizes.o \
                 $(patsubst src/%.c,$(CROSS_DIR)/$(t)/noiam/%.o,$(SRC)) \
                 $(CROSS_DIR)/$(t)/noiam/sizes.o)

cross: cross-deps $(CROSS_ALL)

size: cross
	@bash scripts/size.sh $(CROSS_DIR) "$(foreach t,$(CROSS_TARGETS),$(t):$(CROSS_PREFIX_$(t)):$(CROSS_NAME_$(t)))" "$(CROSS_TLS_TARGETS)" > $(BUILD)/size.txt
	@cat $(BUILD)/size.txt

mcu-tests: cross-deps $(foreach t,$(MCU_TARGETS),$(MCU_ELFS_$(t)))

mcu-unit:
	@bash scripts/check.d/mcu.sh
