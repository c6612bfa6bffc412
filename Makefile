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

.PHONY: demo test test-unit test-slow lint format venv dev clean

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

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
