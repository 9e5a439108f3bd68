# make demo   set up .venv, prepare the embedded corpus, train and sample the demo model (offline, any machine)
# make test   set up .venv with the test tools, run the linter and the fast tier of the tests (minutes)
# make test-all   the linter and both tiers: the fast one and the integration tests (what CI runs)
# TORCH=...   what pip installs for torch first, e.g. make test TORCH=torch==2.13.0 for a small CPU build
# make gpu-wheels   requirements-gpu.txt as wheels in .whl/ for a GPU machine without internet (gpu_check.sh
#                   installs them): built for its Python 3.12 and torch 2.11

PYTHON ?= python3
TORCH ?= torch
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(BIN)/pip install -q "$(TORCH)" -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/python train.py configs/demo.py
	$(BIN)/python sample.py --checkpoint out/demo/ckpt.pt --prompt "The if statement" --num_samples 2 --max_new_tokens 600

# -n auto: a pytest-xdist worker per core; worksteal: a worker that is done takes tests from the other's queue
PYTEST := $(BIN)/python -m pytest -q -n auto --dist worksteal

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(PYTEST)

test-all: $(VENV)/.dev
	$(BIN)/ruff check .
	$(PYTEST) -m "not slow"

# torchao 0.17 is the release for torch 2.11; liger-kernel is pure Python
gpu-wheels:
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform any \
	  -d .whl torchao==0.17.0 liger-kernel==0.8.5

.PHONY: demo test test-all gpu-wheels
