# Two commands do all set-up on a fresh machine:
#   make run    install, migrate, seed the demo data, serve on http://127.0.0.1:8000 with
#               livekit-server and (when an LLM is configured) the agent worker
#   make test   install everything the tests need and run the whole suite
# Both are idempotent; a second run only does what changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test evals lint install install-dev frontend test-tools services livekit-server livekit-sip minio

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The scripts that need npm packages, bundled into static/build/ (no Node at run time).
FRONTEND_SOURCES := $(wildcard frontend/src/*.js frontend/src/lib/*.js) frontend/build.mjs \
	frontend/package-lock.json
static/build/.built: $(FRONTEND_SOURCES)
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && node build.mjs
	mkdir -p static/build && touch $@

frontend: static/build/.built

# Browser tests drive Debian's Chromium; the voice tests speak with espeak-ng and measure
# audio with sox; the phone tests dial with SIPp (Debian's sip-tester); the cluster tests put
# nginx at the edge, firewall hosts with iptables and give Chromium their CA with certutil
# (libnss3-tools). Installed once.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_PACKAGES := chromium espeak-ng sox sip-tester nginx-light iptables libnss3-tools
test-tools:
	@dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) apt-get install -y -qq $(TEST_PACKAGES) >/dev/null)

# PostgreSQL and Redis on 127.0.0.1, installed from Debian's packages when missing.
services:
	@bash services/databases.sh

# livekit-server, pinned, built from its Go module into a git-ignored folder and reused.
# LIVEKIT_SERVER_BIN names a binary of your own instead.
LIVEKIT_SERVER_VERSION := $(shell cat services/livekit-server.version)
LIVEKIT_SERVER := .tools/livekit-server-$(LIVEKIT_SERVER_VERSION)/server
$(LIVEKIT_SERVER):
	@command -v go >/dev/null || { echo "livekit-server is built with Go (>= 1.26), which is missing"; exit 1; }
	GOBIN=$(abspath $(dir $@)) go install github.com/livekit/livekit-server/cmd/server@$(LIVEKIT_SERVER_VERSION)

livekit-server:
	@if [ -n "$$LIVEKIT_SERVER_BIN" ]; then echo "livekit-server: $$LIVEKIT_SERVER_BIN"; \
	 else $(MAKE) --no-print-directory $(LIVEKIT_SERVER); fi

# livekit-sip, LiveKit's SIP bridge (phone calls), pinned and built the same way. It links
# Opus and SoX with cgo: Debian's development packages are installed when missing.
LIVEKIT_SIP_VERSION := $(shell cat services/livekit-sip.version)
LIVEKIT_SIP := .tools/livekit-sip-$(LIVEKIT_SIP_VERSION)/livekit-sip
SIP_BUILD_PACKAGES := libopus-dev libopusfile-dev libsoxr-dev pkg-config
$(LIVEKIT_SIP):
	@command -v go >/dev/null || { echo "livekit-sip is built with Go (>= 1.26), which is missing"; exit 1; }
	@dpkg -s $(SIP_BUILD_PACKAGES) >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(SIP_BUILD_PACKAGES) >/dev/null)
	@# `go install pkg@version` would ask the proxy for the module's version list, which it
	@# refuses for this module; a throwaway module that requires the pinned version builds it.
	mkdir -p $(dir $@)build
	printf 'module livekitsipbuild\n\ngo 1.26\n\nrequire github.com/livekit/sip $(LIVEKIT_SIP_VERSION)\n' > $(dir $@)build/go.mod
	cd $(dir $@)build && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -o $(abspath $@) github.com/livekit/sip/cmd/livekit-sip

livekit-sip:
	@$(MAKE) --no-print-directory $(LIVEKIT_SIP)

# MinIO, the S3 server of a self-hosted data host (the cluster tests keep recordings in it),
# pinned and built from its Go module the same way (it publishes no semantic versions).
MINIO_VERSION := $(shell cat services/minio.version)
MINIO := .tools/minio-$(MINIO_VERSION)/minio
$(MINIO):
	@command -v go >/dev/null || { echo "MinIO is built with Go (>= 1.26), which is missing"; exit 1; }
	GOBIN=$(abspath $(dir $@)) go install github.com/minio/minio@$(MINIO_VERSION)

minio:
	@$(MAKE) --no-print-directory $(MINIO)

# A per-checkout secret for the local run, private (0600) from its creation; production
# sets SECRET_KEY itself.
var/secret_key:
	$(PYTHON) services/new_secret.py $@ --bytes 50

# The key pair of the local livekit-server that `make run` starts (LiveKit wants 32+ chars).
var/livekit_api_secret:
	$(PYTHON) services/new_secret.py $@ --bytes 32

# daphne, livekit-server and (with an LLM configured) the agent worker, under honcho.
run: install frontend var/secret_key var/livekit_api_secret
	@# Ctrl-C ends honcho with 130: the way to stop the product, not an error of make's.
	@WEB_HOST=$(HOST) WEB_PORT=$(PORT) bash services/run.sh || [ $$? -eq 130 ]

test: install-dev frontend test-tools services livekit-server livekit-sip minio
	$(PY) -m pytest
	@# The conversation evals on the scripted stand-in: the harness and the tools, not a model.
	EVALS_STAND_IN=1 $(MAKE) --no-print-directory evals

# The conversation evals (evals/) against the configured LLM (OPENAI_API_KEY or
# OPENAI_BASE_URL, LLM_MODEL): a pass table, and each failure's transcript.
evals:
	$(if $(EVALS_STAND_IN)$(OPENAI_API_KEY)$(OPENAI_BASE_URL),,$(error make evals needs OPENAI_API_KEY or OPENAI_BASE_URL (or EVALS_STAND_IN=1 for the scripted stand-in)))
	@$(MAKE) --no-print-directory install-dev services
	$(PY) -m pytest evals -q

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
