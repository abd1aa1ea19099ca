# dlpick: `make run` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# .venv is installed from uv.lock by uv, itself pinned and kept in a small venv of its own.
UV_VERSION := 0.13.10
UV_HOME := build/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# mypy cannot follow setuptools' editable import hook, so it reads the
# packages through a small tree of links named as they are installed.
TYPECHECK := build/typecheck
APT_PACKAGES := openssh-server librsvg2-bin fonts-firacode

.PHONY: host-torch run test lint typecheck pytest screenshots bench snapshot spot-advisor system-deps clean

$(UV):
	rm -rf $(UV_HOME) && $(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Installs the exact versions in uv.lock, and dlpick itself editable, into .venv with
# $(PYTHON); uv downloads no Python of its own. --locked stops on a uv.lock that
# pyproject.toml has outgrown: `$(UV) lock` (build/uv-<version>/bin/uv) updates it.
# Bytecode is compiled at install, as pip does, so the first start is as fast as the next.
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never \
		$(UV) sync --quiet --locked --compile-bytecode --extra dev --python $(PYTHON)
	touch $(STAMP)

# A separate python with PyTorch's CPU build: the `dlpick bench` tests run it as the
# test host's python3 (the machine's pip configuration first, then PyTorch's own index).
HOST_TORCH := build/host-torch
TORCH_PIN := torch==2.13.0+cpu
$(HOST_TORCH)/.installed:
	rm -rf $(HOST_TORCH) && $(PYTHON) -m venv $(HOST_TORCH)
	$(HOST_TORCH)/bin/pip install --quiet "$(TORCH_PIN)" numpy 2>/dev/null \
	|| $(HOST_TORCH)/bin/pip install --quiet "$(TORCH_PIN)" numpy \
		--extra-index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
	|| { echo "cannot build $(HOST_TORCH): $(TORCH_PIN) did not install (the bench tests need it)" >&2; exit 1; }
	touch $@

host-torch: $(HOST_TORCH)/.installed

run: $(STAMP)
	$(BIN)/dlpick $(ARGS)

# Test peers and screenshot tools come from Debian; install what is missing.
system-deps:
	@missing=""; \
	[ -x /usr/sbin/sshd ] || missing="$$missing openssh-server"; \
	command -v rsvg-convert >/dev/null || missing="$$missing librsvg2-bin"; \
	[ -n "$$(fc-list 2>/dev/null | grep -i 'fira code')" ] || missing="$$missing fonts-firacode"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(TYPECHECK)/dlpick:
	mkdir -p $(TYPECHECK)/dlpick
	for part in core pricing remote tui; do ln -sfn ../../../$$part $(TYPECHECK)/dlpick/$$part; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# tests/ and bench/ are checked with the same settings, as the packages they import them as.
typecheck: $(STAMP) $(TYPECHECK)/dlpick
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p dlpick.core -p dlpick.pricing -p dlpick.remote -p dlpick.tui -p tests -p bench

# Four workers on two cores: most tests wait on their peers (moto, sshd, a pty), so
# four keep both cores busy (the whole suite: 3 min 55 s on a 2-core machine).
PYTEST_WORKERS ?= 4
pytest: $(STAMP) system-deps $(HOST_TORCH)/.installed
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: system-deps lint typecheck pytest

screenshots: $(STAMP) system-deps
	$(BIN)/python -m tests.screenshots

bench: $(STAMP)
	$(BIN)/python -m bench

# Rebuild pricing/data/snapshot.json from the published data in pricing/data/public
# (see its SOURCES.md). With AWS access, prefer: python -m dlpick.pricing.snapshot live
PUBLIC := pricing/data/public
snapshot: $(STAMP)
	$(BIN)/python -m dlpick.pricing.snapshot public $(PUBLIC)/prices.csv \
		--spot $(PUBLIC)/spot_prices.csv \
		--specs tests/data/aws/aws_describe_instance_types_accelerators_moto.json $(PUBLIC)/specs_extra.csv \
		--offerings "$$($(BIN)/python -c 'import moto, pathlib; print(pathlib.Path(moto.__file__).parent / "ec2/resources/instance_type_offerings/region")')" \
		--as-of 2026-08-26 --spot-as-of 2026-06-03 --spot-not-before \
		--source-text "published AWS prices: on-demand from github.com/tsaol/aws-gpu data/all_gpu_instances.js@18aebd1 (instances.vantage.sh data, 2026-08-26); spot per AZ ID from github.com/skypilot-org/skypilot-catalog catalogs/v9/aws/vms.csv@2c3d7ea (no earlier than 2026-06-03); see pricing/data/public/SOURCES.md"

# Rebuild pricing/data/spot_advisor.json from a full copy of the spot advisor's feed
# (ADVISOR_FEED=path); see pricing/data/public/SOURCES.md for the copy it was made from.
ADVISOR_FEED ?= spot-advisor-data.json
spot-advisor: $(STAMP)
	$(BIN)/python -m dlpick.pricing.advisor $(ADVISOR_FEED) \
		--as-of "no later than 2025-06-28" \
		--source-text "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json as stored in github.com/alexei-led/spotinfo internal/spot/data/spot-advisor-data.json@5bdc33cee2e185c2f62df29dd9c4ad0ad7102a74 (committed 2025-06-28; the feed carries no date of its own); Linux entries of dlpick's types only"

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
