# The two commands a newcomer needs: `make run` and `make test`.
# CMake does the building into out/ (binaries in out/bin); this file wraps it,
# and carries the build-<LogicalId> targets that `sam build` calls (functions/sam.mk).

JOBS    ?= 2
CMAKE   ?= cmake
OUT     := out

.PHONY: all build asan test test-fast test-faults run deps clean fuzz fuzz-smoke bench screenshots

all: build

deps:
	@bash scripts/deps.sh

$(OUT)/build/CMakeCache.txt:
	@$(CMAKE) -S . -B $(OUT)/build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSFN_BIN_DIR=$(CURDIR)/$(OUT)/bin >/dev/null

build: deps $(OUT)/build/CMakeCache.txt
	@$(CMAKE) --build $(OUT)/build -j$(JOBS) -- --no-print-directory

$(OUT)/asan/CMakeCache.txt:
	@$(CMAKE) -S . -B $(OUT)/asan -DCMAKE_BUILD_TYPE=Debug -DSFN_SANITIZE=ON -DSFN_BIN_DIR=$(CURDIR)/$(OUT)/asan/bin >/dev/null

asan: deps $(OUT)/asan/CMakeCache.txt
	@$(CMAKE) --build $(OUT)/asan -j$(JOBS) -- --no-print-directory

# Every test in the normal build, then every test again under ASan+UBSan
# (sfnd and the function bootstraps included).
test: build asan
	cd $(OUT)/build && ctest --output-on-failure -j$(JOBS)
	cd $(OUT)/asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS)

# The fault suite (issue 12): full disk, fd exhaustion, slowloris, hung
# init, 6 MB payloads, kills at any moment; under 2 minutes.
test-faults: build
	cd $(OUT)/build && ctest --output-on-failure -L fault

# The normal build's tests only.
test-fast: build
	cd $(OUT)/build && ctest --output-on-failure -j$(JOBS)

# The console's screenshots of the two seed executions (docs/console-*.png),
# taken by headless Chromium in the console's e2e test.
screenshots: build
	cd $(OUT)/build && SFN_CONSOLE_SCREENSHOTS=$(CURDIR)/docs ctest --output-on-failure -R e2e_test_sfnd_console

# make run                      the seed's two events
# make run EVENT=events/x.json  one event file;  make run EVENT=all  every file in events/
# Ends with the console's URLs (state machines, each execution); make run
# KEEP=1 keeps each scenario's sfnd serving them until Ctrl-C.
run: build
	@KEEP=$(KEEP) bash scripts/run-saga.sh $(EVENT)

# libFuzzer targets (clang): out/fuzz/tests/fuzz_<target>; run one with
#   out/fuzz/tests/fuzz_exec -max_total_time=60 tests/fuzz/corpus/exec
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@$(CMAKE) -S . -B $(OUT)/fuzz -DCMAKE_C_COMPILER=clang -DSFN_FUZZ=ON -DSFN_BIN_DIR=$(CURDIR)/$(OUT)/fuzz/bin >/dev/null
	@$(CMAKE) --build $(OUT)/fuzz -j$(JOBS) --target $(FUZZ_TARGETS) -- --no-print-directory

# Every fuzz target for FUZZ_SECONDS (default 30) on a scratch copy of its
# corpus; a crash stops with the input in out/fuzz/artifacts/.
FUZZ_SECONDS ?= 30
fuzz-smoke: fuzz
	@mkdir -p $(OUT)/fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
	  c=$${t#fuzz_}; rm -rf $(OUT)/fuzz/corpus/$$c; mkdir -p $(OUT)/fuzz/corpus; \
	  cp -r tests/fuzz/corpus/$$c $(OUT)/fuzz/corpus/$$c; \
	  echo "fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(OUT)/fuzz/tests/$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	    -artifact_prefix=$(OUT)/fuzz/artifacts/$$t- $(OUT)/fuzz/corpus/$$c > $(OUT)/fuzz/$$t.log 2>&1; \
	  rc=$$?; grep -E '^(Done|==[0-9]+== ERROR|SUMMARY)' $(OUT)/fuzz/$$t.log; \
	  [ $$rc = 0 ] || { echo "$$t failed: see $(OUT)/fuzz/$$t.log"; exit 1; }; \
	done

bench: build
	@bash bench/run.sh

clean:
	rm -rf $(OUT)

-include functions/sam.mk
