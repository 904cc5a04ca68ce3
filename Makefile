# wrangle: build, test, install, package. PREFIX and DESTDIR are honoured by install, and
# CARGO_TARGET_DIR by every target that reads what cargo built.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
# systemd units; init scripts and the cron line are examples (`wrangle startup` installs them).
SYSTEMDDIR = $(DESTDIR)$(PREFIX)/lib/systemd
EXAMPLESDIR = $(DESTDIR)$(PREFIX)/share/wrangle
MUSL = x86_64-unknown-linux-musl
CARGO ?= cargo
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)

# What the units and scripts in contrib/ run: the installed binary, with a PATH that has it.
WRANGLE_BIN = $(PREFIX)/bin/wrangle
STD_PATH = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
UNIT_PATH = $(if $(filter $(PREFIX),/usr /usr/local),$(STD_PATH),$(PREFIX)/bin:$(STD_PATH))
UNIT_USER = root
CONTRIB = contrib/systemd/wrangle@.service contrib/systemd/wrangle-user.service \
  contrib/openrc/wrangle contrib/sysvinit/wrangle contrib/cron/wrangle
FILLED = $(TARGET_DIR)/contrib

.PHONY: all build test static install uninstall lint bench clean contrib deb

all: build

build:
	$(CARGO) build --release

test:
	$(CARGO) test

# A static binary for any x86_64 Linux: $(TARGET_DIR)/x86_64-unknown-linux-musl/release/wrangle
# The static binary is a static PIE; packing its relative relocations (RELR, binutils 2.38
# and later) keeps it one (ASLR and all) and makes it 70 KB smaller. Used when the linker
# takes the flag.
RELR := $(shell printf 'int main(void){return 0;}' | $${CC:-cc} -x c - -Wl,-z,pack-relative-relocs -o /dev/null 2>/dev/null && echo '-C link-arg=-Wl,-z,pack-relative-relocs')

static:
	rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || rustup target add $(MUSL)
	RUSTFLAGS="$$RUSTFLAGS $(RELR)" $(CARGO) build --release --target $(MUSL)
	@ls -l $(TARGET_DIR)/$(MUSL)/release/wrangle

# contrib/ with its placeholders filled in for PREFIX (`wrangle startup` fills in the same
# files, embedded in the binary, for the running installation).
contrib:
	rm -rf $(FILLED)
	for f in $(CONTRIB); do \
	  mkdir -p $(FILLED)/$$(dirname $$f) && \
	  sed -e 's|@WRANGLE@|$(WRANGLE_BIN)|g' -e 's|@PATH@|$(UNIT_PATH)|g' \
	    -e 's|@USER@|$(UNIT_USER)|g' $$f > $(FILLED)/$$f || exit 1; \
	done
	! grep -r '@[A-Z]*@' $(FILLED)

install: build contrib
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man7 $(BASHDIR) $(ZSHDIR) $(FISHDIR) \
	  $(SYSTEMDDIR)/system $(SYSTEMDDIR)/user $(EXAMPLESDIR)/openrc $(EXAMPLESDIR)/sysvinit $(EXAMPLESDIR)/cron
	install -m 0755 $(TARGET_DIR)/release/wrangle $(BINDIR)/wrangle
	install -m 0644 man/wrangle.1 $(MANDIR)/man1/wrangle.1
	install -m 0644 man/wrangle.json.5 $(MANDIR)/man5/wrangle.json.5
	install -m 0644 man/wrangle-protocol.7 $(MANDIR)/man7/wrangle-protocol.7
	install -m 0644 completions/wrangle.bash $(BASHDIR)/wrangle
	install -m 0644 completions/_wrangle $(ZSHDIR)/_wrangle
	install -m 0644 completions/wrangle.fish $(FISHDIR)/wrangle.fish
	install -m 0644 $(FILLED)/contrib/systemd/wrangle@.service $(SYSTEMDDIR)/system/wrangle@.service
	install -m 0644 $(FILLED)/contrib/systemd/wrangle-user.service $(SYSTEMDDIR)/user/wrangle.service
	install -m 0755 $(FILLED)/contrib/openrc/wrangle $(EXAMPLESDIR)/openrc/wrangle
	install -m 0755 $(FILLED)/contrib/sysvinit/wrangle $(EXAMPLESDIR)/sysvinit/wrangle
	install -m 0644 $(FILLED)/contrib/cron/wrangle $(EXAMPLESDIR)/cron/wrangle

uninstall:
	rm -f $(BINDIR)/wrangle $(MANDIR)/man1/wrangle.1 $(MANDIR)/man5/wrangle.json.5 $(MANDIR)/man7/wrangle-protocol.7 \
	  $(BASHDIR)/wrangle $(ZSHDIR)/_wrangle $(FISHDIR)/wrangle.fish \
	  $(SYSTEMDDIR)/system/wrangle@.service $(SYSTEMDDIR)/user/wrangle.service \
	  $(EXAMPLESDIR)/openrc/wrangle $(EXAMPLESDIR)/sysvinit/wrangle $(EXAMPLESDIR)/cron/wrangle
	-rmdir $(EXAMPLESDIR)/openrc $(EXAMPLESDIR)/sysvinit $(EXAMPLESDIR)/cron $(EXAMPLESDIR)

# A Debian package (dpkg-deb) of `make install PREFIX=/usr`, with the completions in Debian's
# folders: $(TARGET_DIR)/deb/wrangle_VERSION_ARCH.deb. Its version is pkg/deb/changelog's.
DEB_VERSION = $(shell sed -n '1s/^wrangle (\(.*\)).*/\1/p' pkg/deb/changelog)
DEB_ROOT = $(abspath $(TARGET_DIR))/deb/root
DEB = $(TARGET_DIR)/deb/wrangle_$(DEB_VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb

deb:
	rm -rf $(DEB_ROOT)
	$(MAKE) install PREFIX=/usr DESTDIR=$(DEB_ROOT) ZSHDIR=$(DEB_ROOT)/usr/share/zsh/vendor-completions \
	  EXAMPLESDIR=$(DEB_ROOT)/usr/share/doc/wrangle/examples
	pkg/deb/build $(DEB_ROOT) $(DEB) $(DEB_VERSION)
	@echo $(DEB)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	mandoc -Tlint -W warning man/wrangle.1 man/wrangle.json.5 man/wrangle-protocol.7

bench: build
	bench/run

clean:
	$(CARGO) clean
