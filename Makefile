# make demo   set up .venv, prepare the embedded corpus, train and sample the demo model (offline, any machine)
# make test   set up .venv with the test tools, run the linter and the test suite
# TORCH=...   what pip installs for torch first, e.g. make test TORCH=torch==2.13.0 for a small CPU build

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
	$(BIN)/python sample.py --checkpoint out/demo/ckpt.pt --prompt "The if statement" --num_samples 2 --max_new_tokens 200

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

.PHONY: demo test
