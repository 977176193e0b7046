# Glidepath developer commands. `make demo` and `make test` install what they need themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CRD := crds/serving.glidepath.io_modeldeployments.yaml
LINT_PATHS := operator runtime-images/onnxruntime/glidepath_runtime tests e2e examples hack bench

.PHONY: setup tools control-plane helm demo test test-unit lint crds verify-crds chart verify-chart clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml runtime-images/onnxruntime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' -e 'runtime-images/onnxruntime[s3,gcs]'
	# TF Serving's config protos, for validating the config files we render, at the version of the
	# TF Serving image (runtime-images/tfserving/Dockerfile); --no-deps: it pins the `tensorflow`
	# distribution while the dev deps carry tensorflow-cpu (the same import package)
	$(VENV)/bin/pip install -q --no-deps 'tensorflow-serving-api==2.19.0'
	touch $@

## Build (or reuse from ~/.cache/glidepath) etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok.
control-plane:
	bash hack/build-control-plane.sh all

## Debian's prometheus (canary analysis e2e, promtool for the alert rules), when not on PATH yet.
tools:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	@command -v prometheus >/dev/null || (echo "prometheus missing: install Debian's prometheus package" >&2; exit 1)
	bash hack/build-fake-gcs.sh >/dev/null

## Build (or reuse from ~/.cache/glidepath) helm from the Go module helm.sh/helm/v3 (chart tests, `make chart`).
helm:
	bash hack/build-helm.sh

## README command 1: a local control plane, the operator, a ModelDeployment serving a real model.
demo: setup control-plane
	$(PY) hack/demo.py

## README command 2: lint, types, layers, generated-file drift, then unit, integration and e2e tests.
test: setup tools control-plane helm lint
	$(PY) -m pytest -ra --durations=10

test-unit: setup
	$(PY) -m pytest -q tests/unit tests/runtime

lint: setup verify-crds verify-chart
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy $(LINT_PATHS)
	$(VENV)/bin/lint-imports

crds: setup
	$(PY) -m glidepath.api.crd > $(CRD)
	$(MAKE) chart

verify-crds: setup
	$(PY) -m glidepath.api.crd --check $(CRD)

## Chart files derived from one source (hack/gen_chart.py): values.schema.json and the values table from
## values.yaml, the chart's CRD copy from crds/, deploy/base/glidepath.yaml from `helm template`.
chart: setup helm
	$(PY) hack/gen_chart.py --deploy --helm "$$(bash hack/build-helm.sh | tail -1)/helm"

verify-chart: setup
	$(PY) hack/gen_chart.py --check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
