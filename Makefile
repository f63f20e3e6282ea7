# nstools: build, test, install.
#   make                 release build of every tool
#   make run             build, then a container: the design card's chain, with a shell at a
#                        terminal, else a short tour inside (make run ARGS='...' runs ARGS)
#   make test            installs what the tests need (tests/deps), then lint, build, every
#                        test on both kernels (the command CI runs)
#   make test-host       the tests on this machine's kernel only
#   make test-vm         the integration tests in a qemu VM on Debian's stable kernel (pure cgroup v2)
#   make bench           every benchmark against every peer, in one run: bench/REPORT.md
#   make install         PREFIX=/usr/local DESTDIR= (binaries and man pages)
#   make uninstall

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
CARGO   ?= cargo
TOOLS   := $(notdir $(wildcard tools/*))

.PHONY: all build bench deps test test-host lint images test-unit test-install test-vm install uninstall run clean

all: build

build:
	$(CARGO) build --release --workspace --bins

test: deps test-host test-vm

# Installs the peers it compares against; never asserts on time.
bench: build
	bench/run

# The packages of tests/packages, installed as root, or the command that would.
deps:
	tests/deps

test-host: deps lint images test-unit test-install

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

# cargo test does not build the tools the integration tests run: build them first.
test-unit:
	$(CARGO) build --workspace --bins --examples
	$(CARGO) test --workspace

# A real image for mkroot's tests: a minbase debootstrap of this machine's release, from
# this machine's own apt sources, built once.
IMAGE_SUITE  ?= $(shell tests/apt-source suite)
IMAGE_MIRROR ?= $(shell tests/apt-source mirror)
images: target/images/debian/etc/debian_version

target/images/debian/etc/debian_version:
	rm -rf target/images/debian.tmp
	mkdir -p target/images
	debootstrap --variant=minbase $(IMAGE_SUITE) target/images/debian.tmp $(IMAGE_MIRROR)
	rm -rf target/images/debian && mv target/images/debian.tmp target/images/debian

# The same integration tests, static, in a VM: see tests/vm/run.
test-vm: deps
	tests/vm/run

# Install into a scratch DESTDIR, check every file landed, uninstall, check nothing is left.
test-install: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(MAKE) -s install DESTDIR="$$d" PREFIX=/usr; \
	for t in $(TOOLS); do \
		test -x "$$d/usr/bin/$$t" && test -f "$$d/usr/share/man/man1/$$t.1" || { echo "install: $$t missing"; exit 1; }; \
		"$$d/usr/bin/$$t" --version >/dev/null; \
	done; \
	test -f "$$d/usr/share/man/man7/nstools.7"; \
	$(MAKE) -s uninstall DESTDIR="$$d" PREFIX=/usr; \
	left=$$(find "$$d" -type f); test -z "$$left" || { echo "uninstall left: $$left"; exit 1; }; \
	echo "install/uninstall: ok ($(TOOLS))"

install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man7"
	for t in $(TOOLS); do \
		install -m 0755 "target/release/$$t" "$(DESTDIR)$(BINDIR)/$$t" && \
		install -m 0644 "man/$$t.1" "$(DESTDIR)$(MANDIR)/man1/$$t.1" || exit 1; \
	done
	install -m 0644 man/nstools.7 "$(DESTDIR)$(MANDIR)/man7/nstools.7"

uninstall:
	for t in $(TOOLS); do rm -f "$(DESTDIR)$(BINDIR)/$$t" "$(DESTDIR)$(MANDIR)/man1/$$t.1"; done
	rm -f "$(DESTDIR)$(MANDIR)/man7/nstools.7"

# With ARGS, ARGS with the freshly built tools first on PATH; without, examples/run.sh.
run: build
ifeq ($(strip $(ARGS)),)
	examples/run.sh
else
	PATH="$(CURDIR)/target/release:$$PATH" $(ARGS)
endif

clean:
	$(CARGO) clean
