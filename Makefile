# kfp-mlops — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export MLFLOW_DISABLE_TELEMETRY := true
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Do not let uv pick another interpreter or fetch one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install evidently monitoring-tools demo test test-fast lint format compile compile-check manifests-check checkov nca stack-up stack-down bench bench-tools lock clean clean-state wheels image image-mlflow e2e

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

$(BIN)/uv:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(BIN)/uv pyproject.toml uv.lock
	$(BIN)/uv sync --frozen --all-extras --compile-bytecode --python $(BIN)/python
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the locked dependencies (uv.lock)

# Evidently (drift comparison only) needs pandas < 3: its own venv, from a hashed lock.
EVIDENTLY_VENV := .venv-evidently
EVIDENTLY_LOCK := benchmarks/evidently/requirements.lock

$(EVIDENTLY_VENV)/.installed: $(BIN)/uv $(EVIDENTLY_LOCK)
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(BIN)/uv pip sync --require-hashes --python $(EVIDENTLY_VENV)/bin/python $(EVIDENTLY_LOCK)
	@touch $@

evidently: $(EVIDENTLY_VENV)/.installed ## Create .venv-evidently (Evidently + pandas<3) for the drift comparison

# checkov (the Pod Security "restricted" check of manifests-check) pins much of its tree
# exactly: its own venv, from a hashed lock.
CHECKOV_VENV := .venv-checkov
CHECKOV_LOCK := manifests/checkov/requirements.lock

$(CHECKOV_VENV)/.installed: $(BIN)/uv $(CHECKOV_LOCK)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync --require-hashes --python $(CHECKOV_VENV)/bin/python $(CHECKOV_LOCK)
	@touch $@

checkov: $(CHECKOV_VENV)/.installed ## Create .venv-checkov (checkov) for the Pod Security check of manifests-check

# network-config-analyzer (the reachability check of manifests-check) pins PyYAML, networkx and
# lxml apart from the main venv: its own venv, from a hashed lock.
NCA_VENV := .venv-nca
NCA_LOCK := manifests/nca/requirements.lock

$(NCA_VENV)/.installed: $(BIN)/uv $(NCA_LOCK)
	$(PYTHON) -m venv $(NCA_VENV)
	$(BIN)/uv pip sync --require-hashes --python $(NCA_VENV)/bin/python $(NCA_LOCK)
	@touch $@

nca: $(NCA_VENV)/.installed ## Create .venv-nca (network-config-analyzer) for the reachability check of manifests-check

# The canary judge's tests query a real Prometheus (Debian 12's prometheus 2.42, with promtool
# to backfill series). apt-get does not start it; the tests run their own process on 127.0.0.1.
# The monitoring stack (`kfp-mlops stack up --monitoring`, the alert and dashboard tests) and
# headless Chromium (report rendering test): Debian packages, installed as root when missing.
MONITORING_BINARIES := prometheus promtool prometheus-pushgateway prometheus-alertmanager amtool chromium
MONITORING_PACKAGES := prometheus prometheus-pushgateway prometheus-alertmanager chromium

monitoring-tools: ## Install prometheus, promtool, the Pushgateway, Alertmanager and chromium (apt-get) unless on PATH
	@missing=""; for bin in $(MONITORING_BINARIES); do \
		command -v $$bin >/dev/null || missing="$$missing $$bin"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "monitoring tools on PATH: $(MONITORING_BINARIES)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		packages=""; for bin in $$missing; do case $$bin in \
			promtool) pkg=prometheus;; amtool) pkg=prometheus-alertmanager;; *) pkg=$$bin;; esac; \
			case " $$packages " in *" $$pkg "*) ;; *) packages="$$packages $$pkg";; esac; \
		done; \
		echo "installing:$$packages (missing:$$missing)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y --no-install-recommends $$packages \
			|| { apt-get update && apt-get install -y --no-install-recommends $$packages; }; \
	else \
		echo "error: missing$$missing; install the Debian packages '$(MONITORING_PACKAGES)' as root (sudo apt-get install $(MONITORING_PACKAGES)) or put the binaries on PATH"; exit 2; \
	fi

demo: install ## Start the embedded stack and run the training pipeline on the German credit data
	$(BIN)/python -m kfp_mlops.demo

test: install evidently monitoring-tools manifests-check ## Run every test (unit, component, pipeline, guards) against the embedded stack
	$(BIN)/pytest -m "not e2e"

test-fast: install checkov nca ## Unit tests and guards only (no stack, no Evidently)
	$(BIN)/pytest -m "not stack and not evidently and not e2e"

lint: install ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

compile: install ## Compile every pipeline into compiled/
	$(BIN)/kfp-mlops compile

compile-check: install ## Fail when compiled/ is stale
	$(BIN)/kfp-mlops compile --check

manifests-check: install checkov nca ## Build every manifests/ overlay (kubectl kustomize), validate it offline, strict; Pod Security restricted; reachability (NCA)
	$(BIN)/python manifests/check.py
	$(BIN)/python manifests/podsecurity.py
	$(BIN)/python manifests/reachability.py

stack-up: install ## Start the embedded stack (SeaweedFS + MLflow) on 127.0.0.1
	$(BIN)/kfp-mlops stack up

stack-down: install ## Stop the embedded stack
	$(BIN)/kfp-mlops stack down

bench-tools: ## Install wrk, the load generator of benchmarks/serve.py (Debian package; needs root)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

bench: install evidently bench-tools ## Print measured figures (benchmarks/)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.local_loop
	$(BIN)/python -m benchmarks.task_times
	$(BIN)/python -m benchmarks.drift
	$(BIN)/python -m benchmarks.datapath
	$(BIN)/python -m benchmarks.serve
	$(BIN)/python -m benchmarks.shadow
	$(BIN)/python -m benchmarks.predlog
	$(BIN)/python -m benchmarks.checks
	$(BIN)/python -m benchmarks.flood
	$(BIN)/python -m benchmarks.push
	$(BIN)/python -m benchmarks.performance
	$(BIN)/python -m benchmarks.compare_live
	$(BIN)/python -m benchmarks.trainset
	$(BIN)/python -m benchmarks.signing
	$(BIN)/python -m benchmarks.fleet

# Container images: built from wheels collected on the host, so the build needs no network.
WHEELS := build/wheels
BASE_IMAGE ?= python:3.11-slim
IMAGE_SOURCE ?= https://github.com/kfp-mlops/kfp-mlops
image_ref = $(shell $(BIN)/python -c 'from components._shared.image import $(1); print($(1))')
GIT_COMMIT = $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DOCKER_BUILD = docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	--build-arg VERSION=$$($(BIN)/python -c 'from components._shared.image import package_version as v; print(v())') \
	--build-arg GIT_COMMIT=$(GIT_COMMIT) --build-arg SOURCE=$(IMAGE_SOURCE) \
	--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ)

wheels: install ## Collect the locked wheels (and build the project's) into build/wheels
	$(BIN)/python scripts/wheels.py $(WHEELS)

image: wheels ## Build the component image (BASE_IMAGE=..., registry from KFP_MLOPS_REGISTRY)
	$(DOCKER_BUILD) --target components --build-arg IMAGE_REF=$(call image_ref,IMAGE) \
		--tag $(call image_ref,IMAGE) .
	@echo "image: $(call image_ref,IMAGE)"

image-mlflow: wheels ## Build the MLflow tracking server image (Dockerfile target mlflow-server)
	$(DOCKER_BUILD) --target mlflow-server --tag $(call image_ref,MLFLOW_SERVER_IMAGE) .
	@echo "image: $(call image_ref,MLFLOW_SERVER_IMAGE)"

e2e: install ## Run the compiled specs in real containers (starts Docker; builds a base image and the image)
	e2e/run.sh

lock: ## Re-resolve uv.lock after changing pyproject.toml
	$(BIN)/uv lock

clean: ## Stop the stack and remove the virtualenvs (keeps .kfp-mlops: data, registry, runs)
	-$(BIN)/kfp-mlops stack down
	rm -rf $(VENV) $(EVIDENTLY_VENV) $(CHECKOV_VENV) $(NCA_VENV)

clean-state: ## Stop the stack and DELETE its state: stored data, MLflow registry, run outputs
	-$(BIN)/kfp-mlops stack down
	rm -rf .kfp-mlops
