# libFuzzer targets for the parsers, the request writer and the whole
# engine (clang, ASan + UBSan). `make fuzz` runs each for FUZZ_SECONDS
# (default 60); make check runs each for a few seconds from the seed
# corpus in tests/fuzz/corpus/. A target's tests/fuzz/TARGET.dict, if there
# is one, is its libFuzzer dictionary.
FUZZ_SECONDS ?= 60
FBUILD  := $(BUILD)/fuzz
FUZZ_TARGETS := sse http json json_shape url writer client gateway tls
FUZZ_SRC := src/llmc_sse.c src/llmc_http.c src/llmc_json.c src/llmc_url.c src/llmc_util.c \
            src/llmc_writer.c src/llmc_auth.c
FSAN    := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1

$(FBUILD)/obj/%.o: %.c $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c99 -Wall -Wextra -Werror $(FSAN) $(CPPFLAGS_LLMC) -Itests/fuzz -c $< -o $@

$(FBUILD)/fuzz_%: $(FBUILD)/obj/tests/fuzz/fuzz_%.o $(patsubst %.c,$(FBUILD)/obj/%.o,$(FUZZ_SRC))
	clang -fsanitize=fuzzer,address,undefined $^ -o $@

# fuzz_client: the whole engine over the fake network in fuzz_client.c,
# with the MCU-sized knobs (small buffers reach their bounds), plain http
# and every log level compiled in (a log line must hold no secret).
FCLIENT_FLAGS := -Iinclude -Isrc -DLLMC_TLS=0 -DLLMC_LOG_LEVEL=4

$(FBUILD)/client/%.o: %.c $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c99 -Wall -Wextra -Werror $(FSAN) $(FCLIENT_FLAGS) -Itests/fuzz -c $< -o $@

$(FBUILD)/fuzz_client: $(patsubst %.c,$(FBUILD)/client/%.o,tests/fuzz/fuzz_client.c $(wildcard src/*.c))
	clang -fsanitize=fuzzer,address,undefined $^ -o $@

# fuzz_gateway: llmc-gateway's HTTP and request body parsing, the file
# included whole (LLMC_GATEWAY_FUZZ leaves its main() out) with the tools'
# helpers it writes JSON with, and the engine
# objects and knobs of fuzz_client: a board's connection slots and sizes.
$(FBUILD)/gateway/%.o: %.c $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h tests/fuzz/*.h examples/posix/*.[ch])
	@mkdir -p $(dir $@)
	clang -std=c99 -Wall -Wextra -Werror $(FSAN) $(FCLIENT_FLAGS) -DLLMC_GATEWAY_FUZZ -Itests/fuzz -c $< -o $@

$(FBUILD)/fuzz_gateway: $(FBUILD)/gateway/tests/fuzz/fuzz_gateway.o $(FBUILD)/gateway/examples/posix/llmc_tool_config.o $(patsubst %.c,$(FBUILD)/client/%.o,$(wildcard src/*.c))
	clang -fsanitize=fuzzer,address,undefined $^ -o $@

# fuzz_tls: the engine of fuzz_client over https, each connection served by
# a real mbedTLS server in the process (tests/fuzz/fuzz_tls.c), with the
# same MCU-sized knobs and log level, TLS on. The certificates are made
# here by scripts/gen-test-certs.sh; the target reads them from this
# directory (or from $$FUZZ_TLS_CERTS).
FTLS_CERTS := $(FBUILD)/certs
FTLS_FLAGS := -Iinclude -Isrc -DLLMC_TLS=1 -DLLMC_LOG_LEVEL=4 \
              -DFUZZ_TLS_CERTS='"$(abspath $(FTLS_CERTS))"'

$(FTLS_CERTS)/ca.pem: scripts/gen-test-certs.sh
	sh scripts/gen-test-certs.sh $(FTLS_CERTS)

$(FBUILD)/tls/%.o: %.c $(MAKEFILES_DEP) $(wildcard include/llmc/*.h src/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	clang -std=c99 -Wall -Wextra -Werror $(FSAN) $(FTLS_FLAGS) -Itests/fuzz $(CFLAGS) -c $< -o $@

# CFLAGS and LIBS as for the tools: another mbedTLS (3.x and 4.x speak
# TLS 1.3 too) is `make fuzz CFLAGS=-I.../include LIBS=".../libmbedtls.a
# ..."`; for 4.x see fuzz_tls.c on MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG
$(FBUILD)/fuzz_tls: $(patsubst %.c,$(FBUILD)/tls/%.o,tests/fuzz/fuzz_tls.c $(wildcard src/*.c)) | $(FTLS_CERTS)/ca.pem
	clang -fsanitize=fuzzer,address,undefined $^ $(LIBS) -o $@

.PHONY: fuzz fuzz-build fuzz-targets
fuzz-build: $(addprefix $(FBUILD)/fuzz_,$(FUZZ_TARGETS))

# the target names, one list for `make fuzz` and make check's fuzz step
fuzz-targets:
	@echo $(FUZZ_TARGETS)

fuzz: deps fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FBUILD)/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  if ! $(FBUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	      -artifact_prefix=$(FBUILD)/ $(FBUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	      > $(FBUILD)/fuzz_$$t.log 2>&1; then \
	    grep -E "ERROR|SUMMARY|Test unit written" $(FBUILD)/fuzz_$$t.log; exit 1; \
	  fi; \
	  grep -E "stat::number_of_executed_units" $(FBUILD)/fuzz_$$t.log; \
	done

# objects reached through pattern chains are kept, not rebuilt every run
.PRECIOUS: $(FBUILD)/obj/%.o
