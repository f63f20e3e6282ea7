# nstools: build, test, install.
#   make                 release build of every tool
#   make run             build, then a container: the design card's chain, with a shell at a
#                        terminal, else a short tour inside (make run ARGS='...' runs ARGS)
#   make test            installs what the tests need (tests/deps), then lint, build, every
#                        test on both kernels (the command CI runs)
#   make test-host       the tests on this machine's kernel only
#   make test-vm         the integration tests in a qemu VM on Debian's stable kernel (pure cgroup v2)
#   make bench           every benchmark against every peer, in one run: bench/REPORT.md
#   make install         PREFIX=/usr/local DESTDIR= (binaries and nsrun, man pages, completions; only
#                        copies what make built)
#   make uninstall
#   make deb             a Debian binary package of what make install puts in place

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
# Where each shell looks for the prefix: a distribution's own packages (PREFIX=/usr) in its
# vendor directories; an admin's install (/usr/local) where the shells look without any
# configuration: bash-completion in $XDG_DATA_DIRS (default /usr/local/share:/usr/share),
# zsh in its site-functions, fish in /etc/fish/completions (its vendor directories are
# /usr/share's alone unless the session sets XDG_DATA_DIRS). tests/completions.rs checks.
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/zsh/vendor-completions,$(DATADIR)/zsh/site-functions)
FISHCOMPDIR ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/fish/vendor_completions.d,/etc/fish/completions)
CARGO   ?= cargo
TOOLS   := $(notdir $(wildcard tools/*))

.PHONY: all build bench deb deps test test-host lint images test-unit test-install test-package test-deb test-vm test-systemd install uninstall run clean

all: build

# The shipped binaries are built for packaging/rust-target's triple (musl where it can be had:
# cheaper start-up at every link of a chain), and target/shipped points at them, so that
# `sudo make install`, which may not see the same toolchain, installs what make built.
# The completions are generated from the built tools' --help, so they never drift.
TARGET ?= $(shell packaging/rust-target)
# Where cargo puts what it builds: $CARGO_TARGET_DIR when set (make install still finds it
# through target/shipped in the checkout), else target/.
CARGO_OUT := $(if $(CARGO_TARGET_DIR),$(abspath $(CARGO_TARGET_DIR)),target)
SHIPPED   := $(if $(CARGO_TARGET_DIR),$(CARGO_OUT)/$(TARGET)/release,$(TARGET)/release)
build:
	$(CARGO) build --release --workspace --bins --target $(TARGET)
	mkdir -p target && ln -sfn $(SHIPPED) target/shipped
	completions/generate target/shipped target/completions

test: deps test-host test-vm test-systemd

# Installs the peers it compares against; never asserts on time.
bench: build
	bench/run

# The packages of tests/packages, installed as root, or the command that would.
deps:
	tests/deps

test-host: deps lint images test-unit test-install test-package test-deb

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	$(CARGO) fmt --manifest-path tests/cri/Cargo.toml --check
	$(CARGO) clippy --manifest-path tests/cri/Cargo.toml --target $(TARGET) --target-dir $(CARGO_OUT)/cri --quiet -- -D warnings

# cargo test does not build the tools the integration tests run: build them first, for the
# shipped target (the VM lane runs the host triple's build: both libcs are tested).
test-unit:
	$(CARGO) build --workspace --bins --examples --target $(TARGET)
	$(CARGO) build --manifest-path tests/cri/Cargo.toml --target $(TARGET) --target-dir $(CARGO_OUT)/cri
	NSTOOLS_TARGET=$(TARGET) $(CARGO) test --workspace

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

# Debian booted with systemd as PID 1 (a debootstrap tree, cached): tests/systemd.rs there.
test-systemd: deps
	tests/systemd/run

# Install into a scratch DESTDIR, check every file landed, uninstall, check nothing is left.
test-install: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(MAKE) -s install DESTDIR="$$d" PREFIX=/usr; \
	for t in $(TOOLS); do \
		for f in bin/$$t share/man/man1/$$t.1 share/bash-completion/completions/$$t \
			share/zsh/vendor-completions/_$$t share/fish/vendor_completions.d/$$t.fish; do \
			test -e "$$d/usr/$$f" || { echo "install: /usr/$$f missing"; exit 1; }; done; \
		"$$d/usr/bin/$$t" --version | grep -q ", static$$" || { echo "install: $$t is not static"; exit 1; }; \
	done; \
	test -f "$$d/usr/share/man/man7/nstools.7"; \
	test -f "$$d/usr/share/man/man8/nsrun.8"; "$$d/usr/bin/nsrun" --version >/dev/null; \
	test -f "$$d/usr/share/bash-completion/completions/nsrun" -a -f "$$d/usr/share/zsh/vendor-completions/_nsrun" \
		-a -f "$$d/usr/share/fish/vendor_completions.d/nsrun.fish"; \
	$(MAKE) -s uninstall DESTDIR="$$d" PREFIX=/usr; \
	left=$$(find "$$d" -type f); test -z "$$left" || { echo "uninstall left: $$left"; exit 1; }; \
	echo "install/uninstall: ok ($(TOOLS))"

deb: build
	packaging/make-deb target/deb

# The package: lintian without errors, installed into a scratch dpkg root (every tool runs, every
# man page is found, exactly what make install puts in place plus the docs), purged to nothing.
test-deb: build
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	deb=$$(DEBFULLNAME="nstools test-deb" DEBEMAIL=test-deb@example.org packaging/make-deb "$$d/out"); \
	test "$$(dpkg-deb -f "$$deb" Maintainer)" = "nstools test-deb <test-deb@example.org>" || { echo "deb: Maintainer is not who built it"; exit 1; }; \
	home=$$(sed -n 's/^homepage *= *"\(.*\)"$$/\1/p' Cargo.toml | head -n 1); \
	test -n "$$home" || home=$$(sed -n 's/^repository *= *"\(.*\)"$$/\1/p' Cargo.toml | head -n 1); \
	test "$$(dpkg-deb -f "$$deb" Homepage)" = "$$home" || { echo "deb: Homepage is not the workspace's ($$home)"; exit 1; }; \
	lintian --fail-on error "$$deb" 2>&1 | grep -v 'root privileges' || :; \
	lintian --fail-on error "$$deb" >/dev/null 2>&1; \
	$(MAKE) -s install DESTDIR="$$d/installed" PREFIX=/usr >/dev/null; \
	r=$$d/root; mkdir -p "$$r/var/lib/dpkg/info" "$$r/var/lib/dpkg/updates"; touch "$$r/var/lib/dpkg/status"; \
	dpkg --root="$$r" --force-script-chrootless -i "$$deb" >/dev/null; \
	for t in $(TOOLS); do "$$r/usr/bin/$$t" --version >/dev/null; man -M "$$r/usr/share/man" -w "$$t" >/dev/null; done; \
	man -M "$$r/usr/share/man" -w 7 nstools >/dev/null; "$$r/usr/bin/nsrun" --version >/dev/null; man -M "$$r/usr/share/man" -w 8 nsrun >/dev/null; \
	(cd "$$d/installed" && find . -type f | sed 's/\.[1-8]$$/&.gz/' | sort) >"$$d/want"; \
	(cd "$$r" && find ./usr -type f | grep -v -e '^./usr/share/doc/' -e '^./usr/share/lintian/' | sort) >"$$d/got"; \
	diff -u "$$d/want" "$$d/got"; \
	dpkg --root="$$r" -P nstools >/dev/null; \
	left=$$(find "$$r" -mindepth 1 -not -path "$$r/var*"); test -z "$$left" || { echo "purge left: $$left"; exit 1; }; \
	echo "make deb: lintian clean, installs, works, purges to nothing ($$(basename "$$deb"))"

# Every crate packages (cargo package builds each from its .crate), and cargo install works.
# cargo verifies the crates that depend on nstools-common against its .crate, put in a local
# registry under the target directory and extracted into $$CARGO_HOME/registry/src/-<hash of that
# path>/; an extraction or a build found there is taken as it is, so a target directory or a
# CARGO_HOME kept from an older run verifies against an older nstools-common. Hence a target
# directory of its own, and those extractions (they hold only our crates) removed after.
LOCAL_REGISTRY_SRC = $${CARGO_HOME:-$$HOME/.cargo}/registry/src/-*
test-package:
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d" $(LOCAL_REGISTRY_SRC)/nstools-*; rmdir $(LOCAL_REGISTRY_SRC) 2>/dev/null || :' EXIT; \
	$(CARGO) package --quiet --workspace --exclude nstools --allow-dirty --target-dir "$$d/target"; \
	$(CARGO) install --quiet --path tools/nstype --root "$$d" --target-dir $(CARGO_OUT)/install; \
	"$$d/bin/nstype" --version | grep -q ', static$$'; \
	echo "cargo package and install: ok"

# Only copies: building is `make`, so that `sudo make install` never builds as root.
install:
	@for t in $(TOOLS); do test -x "target/shipped/$$t" -a -f "target/completions/bash/$$t" || \
		{ echo "make install: target/shipped/$$t is not built: run make first" >&2; exit 1; }; done
	@test -x target/shipped/nsrun || { echo "make install: target/shipped/nsrun is not built: run make first" >&2; exit 1; }
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man7" "$(DESTDIR)$(MANDIR)/man8" \
		"$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)"
	for t in $(TOOLS); do \
		install -m 0755 "target/shipped/$$t" "$(DESTDIR)$(BINDIR)/$$t" && \
		install -m 0644 "man/$$t.1" "$(DESTDIR)$(MANDIR)/man1/$$t.1" && \
		install -m 0644 "target/completions/bash/$$t" "$(DESTDIR)$(BASHCOMPDIR)/$$t" && \
		install -m 0644 "target/completions/zsh/_$$t" "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" && \
		install -m 0644 "target/completions/fish/$$t.fish" "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish" || exit 1; \
	done
	install -m 0644 man/nstools.7 "$(DESTDIR)$(MANDIR)/man7/nstools.7"
	install -m 0755 target/shipped/nsrun "$(DESTDIR)$(BINDIR)/nsrun"
	install -m 0644 man/nsrun.8 "$(DESTDIR)$(MANDIR)/man8/nsrun.8"
	install -m 0644 target/completions/bash/nsrun "$(DESTDIR)$(BASHCOMPDIR)/nsrun"
	install -m 0644 target/completions/zsh/_nsrun "$(DESTDIR)$(ZSHCOMPDIR)/_nsrun"
	install -m 0644 target/completions/fish/nsrun.fish "$(DESTDIR)$(FISHCOMPDIR)/nsrun.fish"

uninstall:
	for t in $(TOOLS); do rm -f "$(DESTDIR)$(BINDIR)/$$t" "$(DESTDIR)$(MANDIR)/man1/$$t.1" \
		"$(DESTDIR)$(BASHCOMPDIR)/$$t" "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish"; done
	rm -f "$(DESTDIR)$(MANDIR)/man7/nstools.7" "$(DESTDIR)$(BINDIR)/nsrun" "$(DESTDIR)$(MANDIR)/man8/nsrun.8" \
		"$(DESTDIR)$(BASHCOMPDIR)/nsrun" "$(DESTDIR)$(ZSHCOMPDIR)/_nsrun" "$(DESTDIR)$(FISHCOMPDIR)/nsrun.fish"

# With ARGS, ARGS with the freshly built tools first on PATH; without, examples/run.sh.
run: build
ifeq ($(strip $(ARGS)),)
	NSTOOLS_BIN_DIR=$(CURDIR)/target/shipped examples/run.sh
else
	PATH="$(CURDIR)/target/shipped:$$PATH" $(ARGS)
endif

clean:
	$(CARGO) clean
