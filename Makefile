# Glidepath developer commands. `make demo` and `make test` install what they need themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CRD := crds/serving.glidepath.io_modeldeployments.yaml
LINT_PATHS := operator runtime-images/onnxruntime/glidepath_runtime tests e2e examples hack

.PHONY: setup control-plane demo test test-unit lint crds verify-crds clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml runtime-images/onnxruntime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' -e runtime-images/onnxruntime
	touch $@

## Build (or reuse from ~/.cache/glidepath) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok.
control-plane:
	bash hack/build-control-plane.sh all

## README command 1: a local control plane, the operator, a ModelDeployment serving a real model.
demo: setup control-plane
	$(PY) hack/demo.py

## README command 2: lint, types, layers, generated-file drift, then unit, integration and e2e tests.
test: setup control-plane lint
	$(PY) -m pytest -ra --durations=10

test-unit: setup
	$(PY) -m pytest -q tests/unit tests/runtime

lint: setup verify-crds
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy $(LINT_PATHS)
	$(VENV)/bin/lint-imports

crds: setup
	$(PY) -m glidepath.api.crd > $(CRD)

verify-crds: setup
	$(PY) -m glidepath.api.crd --check $(CRD)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
