# go-iotsafe. `make demo` runs the tour on the built-in emulator;
# `make test` runs the whole test suite (installing what it needs as root).
GO ?= go
BUILD := build

# `make install` puts the CLI, the PKCS#11 library and a p11-kit module file
# in place (PREFIX, DESTDIR and P11KIT_MODULES may be overridden).
PREFIX ?= /usr/local
DESTDIR ?=
P11KIT_MODULES ?= /usr/share/p11-kit/modules
MODULE_NAME ?= iotsafe
PKCS11_LIB := $(BUILD)/libiotsafe-pkcs11.so

.PHONY: all build pkcs11 demo test bench deb deps-test deps-demo deps-deb install uninstall clean copyright FORCE

all: build pkcs11

# Release builds: no symbol table or DWARF (-s -w), no build paths.
RELEASE_LDFLAGS := -s -w

build:
	$(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o $(BUILD)/iotsafe ./cmd/iotsafe

# The PKCS#11 module: a cgo c-shared library exporting only the C_* symbols.
pkcs11: $(PKCS11_LIB)

$(PKCS11_LIB): FORCE
	$(GO) build -buildmode=c-shared -trimpath \
		-ldflags "$(RELEASE_LDFLAGS) -extldflags=-Wl,--version-script=$(CURDIR)/pkcs11mod/cabi/exports.map" \
		-o $@ ./pkcs11mod/cabi
	rm -f $(BUILD)/libiotsafe-pkcs11.h

install: build pkcs11
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(P11KIT_MODULES)
	install -m 0755 $(BUILD)/iotsafe $(DESTDIR)$(PREFIX)/bin/iotsafe
	install -m 0644 $(PKCS11_LIB) $(DESTDIR)$(PREFIX)/lib/libiotsafe-pkcs11.so
	printf '# go-iotsafe: SIM (IoT SAFE) keys over PKCS#11\nmodule: %s\ncritical: no\n' \
		"$(PREFIX)/lib/libiotsafe-pkcs11.so" >$(DESTDIR)$(P11KIT_MODULES)/$(MODULE_NAME).module
	@echo "installed; configure the SIM in /etc/iotsafe/pkcs11.conf or with IOTSAFE_SIM (see README)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/iotsafe $(DESTDIR)$(PREFIX)/lib/libiotsafe-pkcs11.so \
		$(DESTDIR)$(P11KIT_MODULES)/$(MODULE_NAME).module

$(BUILD)/ztp: FORCE
	$(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o $(BUILD)/ztp ./examples/ztp

# The licences of everything the binaries contain (DEP-5), generated from
# the module graph: what the packages ship as their copyright file.
copyright:
	@mkdir -p $(BUILD)
	scripts/licenses.sh >$(BUILD)/copyright

FORCE:

deps-demo:
	scripts/deps.sh demo

deps-test:
	scripts/deps.sh test

deps-deb:
	scripts/deps.sh deb

# Debian packages for amd64, arm64 and armhf in build/deb (glibc <= 2.31,
# lintian-clean), and the static ARMv6 CLI; install tests:
# scripts/deb-install-test.sh (part of make test).
deb: deps-deb
	scripts/deb.sh

demo: deps-demo build pkcs11 $(BUILD)/ztp
	scripts/demo.sh

test: deps-test build pkcs11
	scripts/test.sh

bench: build
	scripts/bench.sh

clean:
	rm -rf $(BUILD)
