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
EMU_DIR     := $(ROOT)/.emulator
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS):$(VENV)/lib/python3.13/site-packages
export PYTHONPATH := $(ROOT)/tests

.PHONY: help setup emulator-up emulator-down demo deploy test lint sanity unit emulator-tests integration molecule test-compat build clean

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

emulator-up: setup ## start the Kubernetes API emulator (or reuse the running one); writes .emulator/kubeconfig
	$(BIN)/python -m k8s_emulator up --state-dir $(EMU_DIR)

emulator-down: ## stop the Kubernetes API emulator
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m k8s_emulator down --state-dir $(EMU_DIR); fi

demo: emulator-up ## deploy the whole platform onto the emulator and show what exists
	PATH=$(ROOT)/tests/bin:$$PATH K8S_AUTH_KUBECONFIG=$(EMU_DIR)/kubeconfig KUBECONFIG=$(EMU_DIR)/kubeconfig \
	  $(BIN)/ansible-playbook -i inventories/local playbooks/site.yml -e @tests/demo-vars.yml
	KUBECONFIG=$(EMU_DIR)/kubeconfig $(BIN)/kubectl get crd,gatewayclass,gateway,httproute,agentgatewaybackend,agentgatewaypolicy -A
	KUBECONFIG=$(EMU_DIR)/kubeconfig $(BIN)/kubectl get deploy,statefulset,service,cronjob,secret -A
	@echo "The emulator is still running: export KUBECONFIG=$(EMU_DIR)/kubeconfig to look; 'make emulator-down' stops it."

deploy: setup ## run the site playbook against the current kubeconfig context (a real cluster)
	$(BIN)/ansible-playbook -i $${INVENTORY:-inventories/local} playbooks/site.yml $(ARGS)

test: setup lint sanity unit emulator-tests molecule ## every check: lint, sanity, unit, emulator, Molecule
	@echo "make test: all checks passed"

lint: setup ## ansible-lint (production profile)
	$(BIN)/ansible-lint --profile production

sanity: setup ## ansible-test sanity on the built collection
	$(BIN)/python tests/run_sanity.py --python 3.13

unit: setup ## unit tests (modules, module_utils, emulator validation)
	$(BIN)/python -m pytest tests/unit

emulator-tests: setup ## tests of the API emulator and of the modules against it, with real clients
	$(BIN)/python -m pytest tests/integration

molecule: setup ## Molecule scenarios on the emulator (the kind scenario skips without docker/kind)
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

clean: emulator-down ## remove the virtualenvs and generated files
	rm -rf $(VENV) $(VENV_COMPAT) $(COLLECTIONS) $(EMU_DIR) build
