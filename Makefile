# gaussgan: `make demo` to see it work, `make test` to check it. Both install first when needed.
# GPU users: `make TORCH=torch==2.5.1` (or any build you like) to install another torch.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The torch requirement last installed: changing TORCH on the command line reinstalls torch.
TORCH_STAMP := $(VENV)/.torch-requirement

.PHONY: all install demo test test-slow lint bench poc-figure clean FORCE

all: install

install: $(STAMP)

$(TORCH_STAMP): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH)' | cmp -s - $@ || echo '$(TORCH)' > $@

# Reinstall when the package's requirements or the torch requirement change; torch first so
# pip never reaches for a CUDA build.
$(STAMP): setup.py $(TORCH_STAMP)
	@echo "installing into $(VENV) (a few minutes the first time: torch, numpy, scipy, matplotlib, ...)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# Style and types: ruff (lint and format check, settings in pyproject.toml) and mypy on the package.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# A small dataset and a short training run (about a minute on a laptop CPU).
demo: install
	$(PY) gen-samples.py -n 1000 -s gauss -b 10 -d 1 2 10 --seed 1
	$(PY) train.py -f datasets/data_gauss_dim10.h5 -n 15 --seed 1 -p demo --force
	@echo
	@echo "datasets and norm histograms: datasets/ (data_gauss_dim*.h5, hist_gauss_dim*.png)"
	@echo "training run: runs/gauss_dim10_100_1_van_demo/ (training_details.csv, training_pvalues.png, samples/)"

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

# The README's figure: both proof-of-concept scripts trained with their defaults (seed 1),
# 10,000 samples from each drawn over the N(0, 1) density. About a minute on a CPU.
poc-figure: install
	work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && \
	for rule in naive adversarial; do \
	  $(PY) $$rule.py --model-path=$$work/$$rule.pt --seed 1 --quiet 1000 train && \
	  $(PY) $$rule.py --model-path=$$work/$$rule.pt --seed 2 10000 generate > $$work/$$rule.txt || exit 1; \
	done && \
	$(PY) -m gaussgan poc-figure $$work/naive.txt $$work/adversarial.txt docs/images/poc_comparison.png

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Both tables, even when the first misses a target; the status says whether every target was met.
bench: install
	status=0; $(PY) benchmarks/run.py || status=1; $(PY) benchmarks/sweep.py || status=1; exit $$status
