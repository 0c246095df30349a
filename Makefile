# gaussgan: `make demo` to see it work, `make test` to check it. Both install first when needed.
# GPU users: `make TORCH_INDEX=https://download.pytorch.org/whl/cu126` (a CUDA build), or
# `make TORCH_INDEX=` for what plain pip installs (PyPI's build: CUDA on Linux).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# Plain `pip install torch` on Linux takes PyPI's CUDA build (with about 3 GB of nvidia-* packages);
# PyTorch's CPU index has the CPU-only build (about 200 MB), which pip prefers (2.13.0+cpu > 2.13.0).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The torch requirement last installed: changing TORCH or TORCH_INDEX on the command line reinstalls torch.
TORCH_STAMP := $(VENV)/.torch-requirement
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar on

.PHONY: all install demo test test-slow lint bench bench-full poc-figure figures clean FORCE

all: install

install: $(STAMP)

$(TORCH_STAMP): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH) $(TORCH_INDEX)' | cmp -s - $@ || echo '$(TORCH) $(TORCH_INDEX)' > $@

# Reinstall when the package's requirements or the torch requirement change; torch first, from
# TORCH_INDEX, so that installing the package finds it there and never reaches for a CUDA build.
$(STAMP): setup.py $(TORCH_STAMP)
	@echo "== installing into $(VENV): the first time takes a few minutes, mostly downloading torch"
	@test -x $(PY) || { echo "== 1/3 creating the virtual environment $(VENV) ($(PYTHON) -m venv)"; $(PYTHON) -m venv $(VENV); }
	@echo "== 2/3 installing $(TORCH)$(if $(TORCH_INDEX), from $(TORCH_INDEX))"
	$(PIP) $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	@echo "== 3/3 installing gaussgan (editable) and numpy, scipy, h5py, matplotlib, pandas, scikit-learn, dask, ... the test tools and tensorboard"
	$(PIP) -e '.[test,tensorboard]'
	@touch $(STAMP)
	@echo "== installed. In your shell: source $(VENV)/bin/activate   (or run $(PY) in place of python)"

# Style, types and architecture: ruff (lint and format check), mypy on the package, and import-linter's
# contracts (the stages import downwards only, no cycles); settings in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# A small dataset and a short training run (about a minute on a laptop CPU). Run again, gen-samples.py
# keeps the datasets it finds identical (same seed and options) and refuses to replace others;
# train.py's --force replaces the demo's own run.
demo: install
	@echo "== 1/2 writing datasets of 10,000 samples from N(0, I) in 1, 2 and 10 dimensions"
	$(PY) gen-samples.py -n 1000 -s gauss -b 10 -d 1 2 10 --seed 1
	@echo "== 2/2 training a GAN on the 10-dimensional one for 15 epochs (about a minute)"
	$(PY) train.py -f datasets/data_gauss_dim10.h5 -n 15 --seed 1 -p demo --force
	@echo
	@echo "datasets and norm histograms: datasets/ (data_gauss_dim*.h5, hist_gauss_dim*.png)"
	@echo "the verdict (n* beside the training set's own limit): runs/gauss_dim10_100_1_van_demo/verdict.json"
	@echo "the metrics against their floors, epoch by epoch: runs/gauss_dim10_100_1_van_demo/training_metrics.png"
	@echo "to run the scripts yourself: source $(VENV)/bin/activate"
	@echo "the run on one page (open it in a browser): runs/gauss_dim10_100_1_van_demo/index.html"

# The report's browser check needs Debian's chromium: installed when missing and apt-get can (root);
# otherwise that one test skips, saying why.
test: install
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; }; } || \
	  echo "note: chromium could not be installed (apt-get missing or not root); the report's browser check will skip"
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile

test-slow: install
	$(PY) -m pytest -q -m slow

# The figure of docs/poc.md: both proof-of-concept scripts trained with their defaults (seed 1),
# 10,000 samples from each drawn over the N(0, 1) density. About a minute on a CPU.
poc-figure: install
	work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && \
	for rule in naive adversarial; do \
	  $(PY) $$rule.py --model-path=$$work/$$rule.pt --seed 1 --quiet 1000 train && \
	  $(PY) $$rule.py --model-path=$$work/$$rule.pt --seed 2 10000 generate > $$work/$$rule.txt || exit 1; \
	done && \
	$(PY) -m gaussgan poc-figure --force $$work/naive.txt $$work/adversarial.txt docs/images/poc_comparison.png

# Every figure type, for every parent at d = 1, 2, 10, 100, from two-epoch runs on tiny datasets,
# side by side in figures/index.html (about a minute; figures/ is not committed).
figures: install
	$(PY) -m gaussgan.study.figure_sheet figures --force

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Both tables, even when the first misses a target; the status says whether every target was met.
# bench: the quick variant, within 10 minutes on 2 cores; bench-full: every row at full size (about four hours,
# most of it today's sweeps of the defaults study and of a 32-run seed study: benchmarks/sweep.py --full; and
# where a run's time goes, today's against a pack: benchmarks/run_parts.py, about 7 minutes).
bench: install
	status=0; $(PY) benchmarks/run.py --quick || status=1; $(PY) benchmarks/sweep.py || status=1; exit $$status

bench-full: install
	status=0; $(PY) benchmarks/run.py || status=1; $(PY) benchmarks/run_parts.py || status=1; \
	  $(PY) benchmarks/sweep.py --full || status=1; exit $$status
