# portoshim: build, check, test and install.
#
#   make                 install dependencies (npm ci), check gen/ and the protos,
#                        type-check, build dist/ and the bin/portoshim launcher
#   make run             build, then run portoshim in the foreground (as root)
#   make test            everything CI checks: the above plus the test suite
#   make generate        regenerate gen/ from proto/ (after changing proto/)
#   make install         install under $(DESTDIR)$(PREFIX) (default /usr/local)
#   make uninstall       remove what install put there

PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
LIBDIR      = $(PREFIX)/lib/portoshim
SBINDIR     = $(PREFIX)/sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
REFERENCE  ?= ../shared/reference
BUF         = node_modules/.bin/buf
NPM_BIN     = $(CURDIR)/node_modules/.bin

.PHONY: all deps generate check-generated check-protos typecheck build run test install uninstall clean

all: deps check-generated check-protos typecheck build

deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci

generate: deps
	PATH="$(NPM_BIN):$$PATH" $(BUF) generate

# gen/ is committed; it must be exactly what buf makes from proto/.
check-generated: deps
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	PATH="$(NPM_BIN):$$PATH" $(BUF) generate -o "$$tmp" && \
	if diff -r gen "$$tmp/gen" >/dev/null; then echo "gen/ matches proto/"; \
	else diff -r gen "$$tmp/gen" | head -20; echo "gen/ is stale or edited: run make generate"; exit 1; fi

# proto/ must be wire-identical to the pinned releases' descriptor sets.
check-protos: deps
	@if [ -d "$(REFERENCE)" ]; then \
	  $(BUF) breaking proto/cri --against $(REFERENCE)/cri-api-v0.36.3.binpb && \
	  $(BUF) breaking proto/porto --against $(REFERENCE)/porto-rpc-5.3.59.binpb && \
	  echo "proto/ is wire-identical to $(REFERENCE)"; \
	else echo "check-protos skipped: $(REFERENCE) is absent (it ships beside the development checkout only)"; fi

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

build: deps
	rm -rf dist
	npx tsc -p tsconfig.build.json

run: all
	./bin/portoshim $(ARGS)

test: all
	npm test

install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(PREFIX)/share/doc/portoshim
	cp -r dist package.json package-lock.json $(DESTDIR)$(LIBDIR)/
	cd $(DESTDIR)$(LIBDIR) && npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	printf '#!/bin/sh\nexec node %s/dist/src/cli.js "$$@"\n' "$(LIBDIR)" > $(DESTDIR)$(SBINDIR)/portoshim
	chmod 0755 $(DESTDIR)$(SBINDIR)/portoshim
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/portoshim.service > $(DESTDIR)$(UNITDIR)/portoshim.service
	install -m 0644 packaging/portoshim.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/portoshim
	install -m 0644 packaging/portoshim.yaml $(DESTDIR)$(PREFIX)/share/doc/portoshim/portoshim.yaml.example

uninstall:
	rm -rf $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/share/doc/portoshim
	rm -f $(DESTDIR)$(SBINDIR)/portoshim $(DESTDIR)$(UNITDIR)/portoshim.service \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d/portoshim

clean:
	rm -rf dist
