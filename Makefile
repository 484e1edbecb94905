# Two commands:  `make lab`  (set up + open the notebooks in JupyterLab)
#                `make test` (set up + lint + unit tests + every notebook under nbval)
# Set-up is a local virtual environment in .venv, rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JUPYTER_ARGS ?=
# JupyterLab refuses to start as root unless told; containers and CI machines often are root.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)

export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# One BLAS thread per process: the suite runs two processes at a time (pytest-xdist) and the
# explorers do many small matrix products, where BLAS threads only contend (notebook 03's
# update at N = 1e5 took 1.5 s with OpenBLAS threads on a busy 2-core machine, 0.13 s without).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
# Processes for `make test` (pytest-xdist; a notebook stays in one worker: --dist loadscope).
JOBS ?= 2

.PHONY: lab test lint unit notebooks bench setup clean execute
.PHONY: site figures nav
.PHONY: test-browser browser-deps app

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is needed, found " + sys.version.split()[0]' \
	  || { echo "error: set PYTHON=/path/to/python3.10+ (make PYTHON=python3.12 ...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

lab: $(STAMP)
	MPLBACKEND=module://matplotlib_inline.backend_inline \
	  $(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARGS) $(JUPYTER_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check em_helpers tests notebooks bench tools browser_tests

# pytest exits 5 when it collects no test; make treats every non-zero exit as failure.
unit: $(STAMP)
	$(BIN)/python -m pytest tests

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

test: lint $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env \
	  tests notebooks

# Re-execute every notebook (and its solutions) top to bottom in a fresh kernel and store
# the outputs.
execute: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 notebooks/*.ipynb notebooks/solutions/*.ipynb

# Every bench/bench_*.py script; each prints its table (see bench/README.md).
bench: $(STAMP) browser-deps
	set -e; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f; done

# Browser tests (browser_tests/): every notebook in JupyterLab and one in Voila, driven by
# Playwright in Debian's headless chromium (never a browser downloaded by a test tool).
# Installing chromium needs root (apt-get); as another user, install it first yourself.
browser-deps:
	@test -x /usr/bin/chromium || command -v chromium >/dev/null 2>&1 || { \
	  test "$$(id -u)" = 0 || { echo "error: chromium is missing; as root run: apt-get install -y chromium"; exit 1; }; \
	  echo "installing Debian chromium"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; }

test-browser: $(STAMP) browser-deps site
	$(BIN)/python -m pytest -p no:cacheprovider browser_tests

# The course's app mode: each notebook's explorer as a small Voila app (the explorer first,
# its explanation above it, kernels preheated), and an index page of them all at
# http://localhost:8866 (tools/course_app.py builds the apps into build/app on every run).
#   make app [NB=notebooks/03_gaussian_mixture.ipynb] [VOILA_ARGS="--port=8867"]
NB ?=
VOILA_ARGS ?=
app: $(STAMP)
	$(BIN)/python -m tools.course_app $(if $(NB),--open $(NB)) -- $(VOILA_ARGS)

# The course as a static web site in build/html: Jupyter Book 1 from the committed, executed
# notebooks (never re-executed), warnings as errors, MathJax and the ipywidgets HTML manager
# served from the site itself (npm fetches the manager's package once into build/).
SITE_STAMP := $(VENV)/.installed-site
$(SITE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[site]"
	touch $(SITE_STAMP)

site: $(SITE_STAMP)
	$(BIN)/python -m tools.build_site

# Thumbnails of each notebook's key figure (docs/figures/*.png), from its stored outputs.
figures: $(STAMP)
	$(BIN)/python -m tools.make_figures

# Navigation cells (index, previous, next) in every notebook, and the course table in
# README.md and notebooks/README.md; markdown cells only, nothing is re-executed.
nav: $(STAMP)
	$(BIN)/python -m tools.course_nav

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
