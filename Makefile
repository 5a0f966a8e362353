# A thin wrapper over Meson carrying the README's commands.
#   make          build build/imapcidd and build/imapcidctl
#   make demo     install what is missing, build, run a demo instance
#   make check    install what is missing, build, run every test
#   make format   apply .clang-format to every C file
#   make fuzz     every fuzzer for FUZZ_SECONDS (600) each, keeping new
#                 corpus entries

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DEMO_DIR   ?= demo

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')

.PHONY: all deps test-deps demo check format format-check unit e2e asan fuzz bench clean

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh --test

$(BUILD)/build.ninja:
	meson setup $(BUILD)

demo: all
	$(BUILD)/imapcidd --demo $(DEMO_DIR)

check: test-deps
	@scripts/check.sh

format:
	clang-format -i $(C_FILES)

format-check:
	@out=$$(clang-format --dry-run $(C_FILES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; \
	echo "format-check: run 'make format'"; exit 1; fi

fuzz: test-deps
	@scripts/fuzz.sh

bench: all
	bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
