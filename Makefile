# Quick start: `make demo` (train + evaluate GAP vs Hide-and-Seek on built-in data), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: venv demo test test-slow lint format bench clean

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m hide_and_seek_tf.cli.demo --out runs/demo

# Two workers, each test file on one (its module fixtures run once): about 6 minutes on 2 cores, 10 in one process.
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -n 2 --dist loadfile

test-slow: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/bench_hide_patches.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/bench_hide_segments.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/bench_cam_boxes.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/bench_serving.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/bench_backends.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
