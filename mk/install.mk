# make install: libllmc.a, its headers, the knobs it was built with, a
# pkg-config file and the tools, under $(DESTDIR)$(PREFIX); make uninstall
# takes them away again.
#
# A program must see the knobs the library was built with (llmc_client_t's
# size follows them; llmc_client_init() refuses a mismatch): they are
# installed as llmc/llmc_knobs.h, which llmc_config_defaults.h includes
# when LLMC_INSTALLED is defined, as `pkg-config --cflags llmc` does. The
# Makefile's -D knobs become #defines there; a .config's are its generated
# header. mbedTLS comes from $(LIBS) and the -I of $(CFLAGS), as in the
# build.
PREFIX ?= /usr/local
INSTALL_TOOLS := llmc-chat llmc-check llmc-gather llmc-gateway
LLMC_VERSION_STR := $(shell sed -n 's/^\#define LLMC_VERSION "\(.*\)"$$/\1/p' include/llmc/llmc.h)
IDIR := $(DESTDIR)$(PREFIX)

.PHONY: install uninstall
install: all
	install -d $(IDIR)/include/llmc $(IDIR)/lib/pkgconfig $(IDIR)/bin
	install -m 644 include/llmc/*.h $(IDIR)/include/llmc/
	{ echo '/* The knobs the installed libllmc.a was built with (make install). */'; \
	  $(if $(KCONFIG_H),cat $(KCONFIG_H);) \
	  printf '%s\n' $(filter-out -DLLMC_CONFIG_FILE=%,$(KNOBS)) | \
	    sed -n 's/^-D\([A-Z0-9_]*\)=\(.*\)$$/#define \1 \2/p'; \
	} > $(IDIR)/include/llmc/llmc_knobs.h
	install -m 644 $(BUILD)/libllmc.a $(IDIR)/lib/
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' \
	  'libdir=$${prefix}/lib' '' 'Name: llmc' \
	  'Description: OpenAI-compatible chat completions with failover, streamed, without heap' \
	  'Version: $(LLMC_VERSION_STR)' \
	  'Cflags: $(strip -I$${includedir} -DLLMC_INSTALLED $(filter -I%,$(CFLAGS)))' \
	  'Libs: -L$${libdir} -lllmc $(LIBS)' > $(IDIR)/lib/pkgconfig/llmc.pc
	install -m 755 $(addprefix $(BUILD)/,$(INSTALL_TOOLS)) $(IDIR)/bin/

uninstall:
	rm -f $(addprefix $(IDIR)/include/llmc/,$(notdir $(wildcard include/llmc/*.h)) llmc_knobs.h)
	-rmdir $(IDIR)/include/llmc
	rm -f $(IDIR)/lib/libllmc.a $(IDIR)/lib/pkgconfig/llmc.pc
	rm -f $(addprefix $(IDIR)/bin/,$(INSTALL_TOOLS))
