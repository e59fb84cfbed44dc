# mcp_gateway.platform — developer entry points. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(abspath .)
VENV        ?= $(ROOT)/.venv
# The project's toolchain is Python 3.13 (ansible 14.5 / ansible-core 2.21). Prefer pyenv's copy.
PYTHON313   ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
# Compatibility leg: Python 3.11 with ansible 12.3 (ansible-core 2.19), the oldest line we test.
VENV_COMPAT ?= $(ROOT)/.venv-compat
PYTHON311   ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) $(shell command -v python3.11 2>/dev/null))

BIN         := $(VENV)/bin
COLLECTIONS := $(ROOT)/.collections
# The test control plane (tests/cluster): kwokctl's state and the kubeconfig `make cluster-up` writes.
CLUSTER_DIR := $(ROOT)/.cluster
KUBECONFIG_LOCAL := $(CLUSTER_DIR)/clusters/mcp-test/kubeconfig.yaml
# The demo's test doubles, in the cluster's folder (so cluster-down stops them with it).
DEMO_PEERS := $(CLUSTER_DIR)/clusters/mcp-test/peers
# The Go-built binaries (tests/binaries/build.sh): kube-*, etcd, kwok, kwokctl, helm, all in one folder.
GOBIN_PATH  := $(ROOT)/.cache/bin/path
export PATH := $(BIN):$(GOBIN_PATH):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS):$(VENV)/lib/python3.13/site-packages
export PYTHONPATH := $(ROOT)/tests

.PHONY: help setup binaries cluster-up cluster-down demo deploy test lint sanity unit integration molecule test-compat build clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(COLLECTIONS)/ansible_collections/mcp_gateway/platform:
	mkdir -p $(COLLECTIONS)/ansible_collections/mcp_gateway
	ln -sfn $(ROOT) $@

setup: $(VENV)/.installed $(COLLECTIONS)/ansible_collections/mcp_gateway/platform ## create the virtualenv and link the collection

binaries: ## build (or reuse) etcd, kube-apiserver/-controller-manager/-scheduler, kwok and helm from Go modules
	tests/binaries/build.sh

cluster-up: setup binaries ## start the local control plane (or reuse the running one); writes .cluster/.../kubeconfig.yaml
	$(BIN)/python -m cluster up --state-dir $(CLUSTER_DIR)

cluster-down: ## stop the local control plane
	@if [ -x $(BIN)/python ] && [ -d $(CLUSTER_DIR)/clusters ]; then $(BIN)/python -m cluster down --state-dir $(CLUSTER_DIR); fi

demo: cluster-up ## deploy the whole platform onto the local control plane, verify it and print what runs
	@# The Azure AD double the controller fetches the tenant's keys from (stopped by cluster-down with the cluster).
	cd tests && $(BIN)/python -m peers oidc $(DEMO_PEERS) --background \
	  --tenant-id 00000000-0000-4000-8000-000000000001 --client-id 00000000-0000-4000-8000-000000000002
	K8S_AUTH_KUBECONFIG=$(KUBECONFIG_LOCAL) KUBECONFIG=$(KUBECONFIG_LOCAL) \
	  $(BIN)/ansible-playbook -i inventories/local playbooks/site.yml -e @tests/demo-vars.yml -e @$(DEMO_PEERS)/oidc-vars.json
	K8S_AUTH_KUBECONFIG=$(KUBECONFIG_LOCAL) KUBECONFIG=$(KUBECONFIG_LOCAL) \
	  $(BIN)/ansible-playbook -i inventories/local playbooks/verify.yml -e @tests/demo-vars.yml -e @$(DEMO_PEERS)/oidc-vars.json \
	  -e verify_report_file=$(DEMO_PEERS)/report.txt
	@echo; cat $(DEMO_PEERS)/report.txt; echo
	@echo "The control plane is still running: export KUBECONFIG=$(KUBECONFIG_LOCAL) to look; 'make cluster-down' stops it."

deploy: setup ## run the site playbook against the current kubeconfig context (a real cluster)
	$(BIN)/ansible-playbook -i $${INVENTORY:-inventories/local} playbooks/site.yml $(ARGS)

test: setup binaries lint sanity unit integration molecule ## every check: lint, sanity, unit, integration, Molecule
	@echo "make test: all checks passed"

lint: setup ## ansible-lint (production profile)
	$(BIN)/ansible-lint --profile production

sanity: setup ## ansible-test sanity on the built collection
	$(BIN)/python tests/run_sanity.py --python 3.13

unit: setup ## unit tests (module_utils, modules)
	$(BIN)/python -m pytest tests/unit

integration: setup binaries ## modules, roles, playbooks and the built collection against real control planes
	$(BIN)/python -m pytest tests/integration

molecule: setup binaries ## Molecule scenarios on the local control plane (the kind scenario skips without docker/kind)
	$(BIN)/molecule test --all

test-compat: ## the lighter leg: sanity + unit tests on Python 3.11 / ansible-core 2.19
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found; set PYTHON311" >&2; exit 1; }
	test -x $(VENV_COMPAT)/bin/python || $(PYTHON311) -m venv $(VENV_COMPAT)
	$(VENV_COMPAT)/bin/pip install --quiet -r requirements-compat.txt
	PATH=$(VENV_COMPAT)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS):$(VENV_COMPAT)/lib/python3.11/site-packages \
	  $(VENV_COMPAT)/bin/python tests/run_sanity.py --python 3.11
	PATH=$(VENV_COMPAT)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS):$(VENV_COMPAT)/lib/python3.11/site-packages \
	  $(VENV_COMPAT)/bin/python -m pytest tests/unit/plugins

build: setup ## build the collection artifact into build/
	mkdir -p build && $(BIN)/ansible-galaxy collection build --force --output-path build

clean: cluster-down ## remove the virtualenvs and generated files (the binaries stay in .cache/bin)
	rm -rf $(VENV) $(VENV_COMPAT) $(COLLECTIONS) $(CLUSTER_DIR) build
