# go-iotsafe. `make demo` runs the tour on the built-in emulator;
# `make test` runs the whole test suite (installing what it needs as root).
GO ?= go
BUILD := build

.PHONY: all build demo test bench deps-test deps-demo clean FORCE

all: build

build:
	$(GO) build -o $(BUILD)/iotsafe ./cmd/iotsafe

$(BUILD)/ztp: FORCE
	$(GO) build -o $(BUILD)/ztp ./examples/ztp

FORCE:

deps-demo:
	scripts/deps.sh demo

deps-test:
	scripts/deps.sh test

demo: deps-demo build $(BUILD)/ztp
	scripts/demo.sh

test: deps-test build
	scripts/test.sh

bench: build
	scripts/bench.sh

clean:
	rm -rf $(BUILD)
