# wrangle: build, test, install. PREFIX and DESTDIR are honoured by install.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
MUSL = x86_64-unknown-linux-musl
CARGO ?= cargo

.PHONY: all build test static install uninstall lint bench clean

all: build

build:
	$(CARGO) build --release

test:
	$(CARGO) test

# A static binary for any x86_64 Linux: target/x86_64-unknown-linux-musl/release/wrangle
static:
	rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || rustup target add $(MUSL)
	$(CARGO) build --release --target $(MUSL)
	@ls -l target/$(MUSL)/release/wrangle

install: build
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man7 $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	install -m 0755 target/release/wrangle $(BINDIR)/wrangle
	install -m 0644 man/wrangle.1 $(MANDIR)/man1/wrangle.1
	install -m 0644 man/wrangle.json.5 $(MANDIR)/man5/wrangle.json.5
	install -m 0644 man/wrangle-protocol.7 $(MANDIR)/man7/wrangle-protocol.7
	install -m 0644 completions/wrangle.bash $(BASHDIR)/wrangle
	install -m 0644 completions/_wrangle $(ZSHDIR)/_wrangle
	install -m 0644 completions/wrangle.fish $(FISHDIR)/wrangle.fish

uninstall:
	rm -f $(BINDIR)/wrangle $(MANDIR)/man1/wrangle.1 $(MANDIR)/man5/wrangle.json.5 $(MANDIR)/man7/wrangle-protocol.7 \
	  $(BASHDIR)/wrangle $(ZSHDIR)/_wrangle $(FISHDIR)/wrangle.fish

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	mandoc -Tlint -W warning man/wrangle.1 man/wrangle.json.5 man/wrangle-protocol.7

bench: build
	bench/run

clean:
	$(CARGO) clean
