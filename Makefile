# The two set-up-and-run commands: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
# Where pip finds that build. Empty: pip's configured index (here a local CPU wheel). On a user's
# machine the public index holds the multi-GB CUDA build; PyTorch's CPU wheels are at
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: demo test test-unit test-slow test-min-versions lint format venv dev clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(BIN)/pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) )$(TORCH)
	$(BIN)/pip install -q -c constraints.txt -e ".[serve]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,serve]"
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: venv
	$(BIN)/textclass train configs/rotten_tomatoes.yaml

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

test-unit: dev
	$(BIN)/pytest -q -m "not integration and not slow"

test-slow: dev
	$(BIN)/pytest -q -m slow

# The declared floors, proven: a separate venv with every lower bound of pyproject.toml (the
# dependencies and all extras) installed exactly (scripts/min_versions.py writes the pins), then
# the unit tests and the ONNX export tests (the one place torch's floor shows: torch 2.4 cannot
# export SDPA attention). Rebuilt from scratch whenever pyproject.toml changes. torch comes from
# TORCH_INDEX as for .venv; from PyPI it is the CUDA build (~1 GB, plus ~3 GB of nvidia-*).
MIN_VENV := .venv-min
MIN_BIN := $(MIN_VENV)/bin

$(MIN_VENV)/.installed: pyproject.toml scripts/min_versions.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_BIN)/python scripts/min_versions.py > $(MIN_VENV)/floors.txt
	$(MIN_BIN)/pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) )"$$($(MIN_BIN)/python scripts/min_versions.py --only torch)"
	$(MIN_BIN)/pip install -q -c $(MIN_VENV)/floors.txt -e ".[dev,serve,glove]"
	$(MIN_BIN)/python scripts/min_versions.py --check
	touch $@

test-min-versions: $(MIN_VENV)/.installed
	$(MIN_BIN)/python scripts/min_versions.py --check
	$(MIN_BIN)/pytest -q -p no:cacheprovider -m "not slow" tests/unit tests/integration/test_export.py

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache .ruff_cache
