# The two commands a newcomer needs: `make book` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with .nbval-sanitize.cfg --nbval-cell-timeout=600
# Both nbval passes spread the chapters over the cores, one notebook per worker.
NBVAL_PARALLEL := -n 2 --dist loadfile

# One BLAS thread: matrix products then sum in a fixed order.  A private matplotlib config keeps
# its font cache out of cell outputs.
export OMP_NUM_THREADS      := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS      := 1
export MPLCONFIGDIR         := $(CURDIR)/$(VENV)/mplconfig
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The second BLAS kernel for the reproducibility pass.  OpenBLAS picks its matrix kernel by CPU,
# and kernels round differently in the last bit; stored outputs must not depend on that.
# Prescott (SSE3) is a kernel every x86-64 CPU can run.
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
SECOND_KERNEL := Prescott
endif

.PHONY: help install book test lint test-lib test-nbval test-nbval-second book-checked \
        test-site execute lock bench serve clean

help:
	@echo "make book     build the HTML book (chapters executed, cached) into _build/html"
	@echo "make test     ruff, library tests, strict nbval under two BLAS kernels, the -W book"
	@echo "              build and the browser test of the built site"
	@echo "make execute  re-execute every chapter in place (refresh the stored outputs)"
	@echo "make lock     re-resolve $(LOCK) from pyproject.toml (uv, Python 3.10-3.13)"
	@echo "make bench    time relunet against PyTorch CPU (installs torch==2.13.0 into .venv)"
	@echo "make serve    serve _build/html on http://127.0.0.1:8000"

# ---------------------------------------------------------------- environment
install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else \
	  f"Python 3.10-3.13 is needed (the lock covers those), found {sys.version.split()[0]}: run make PYTHON=python3.12 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==26.3
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import matplotlib.pyplot"  # build the font cache now, not inside a cell
	touch $@

# Exact versions of everything `make book` and `make test` install, one version of each package
# for Linux and macOS and Python 3.10-3.13 (`--fork-strategy fewest`), so a stored output is the
# same on all of them.  setuptools and wheel are locked too: the project installs without build
# isolation.  pyproject.toml keeps compatible ranges for people who pip-install the library.
UV_VERSION := 0.13.8
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	printf 'setuptools>=77\nwheel\n' | $(BIN)/uv pip compile pyproject.toml - --extra dev \
	  --universal --python-version 3.10 --fork-strategy fewest --generate-hashes \
	  --no-header --quiet -o $(LOCK)
	@echo "Wrote $(LOCK). Now: make install && make execute && make test"

# ---------------------------------------------------------------- the book
book: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

# The build `make test` does: from the stored outputs, which both nbval passes have just proved
# fresh, instead of executing every chapter a third time.
book-checked: $(STAMP)
	sed 's/^\(  execute_notebooks:\) cache/\1 "off"/' _config.yml > .config-checked.yml
	grep -q 'execute_notebooks: "off"' .config-checked.yml
	$(BIN)/jupyter-book build -W -n --keep-going --config .config-checked.yml .

# ---------------------------------------------------------------- checks
lint: $(STAMP)
	$(BIN)/ruff check lib tests chapters bench experiments _ext
	$(BIN)/ruff format --check lib tests chapters bench experiments _ext

test-lib: $(STAMP)
	$(BIN)/pytest -n 2 tests --ignore=tests/test_site.py

test-nbval: $(STAMP)
	$(BIN)/pytest $(NBVAL) $(NBVAL_PARALLEL) chapters

test-nbval-second: $(STAMP)
ifdef SECOND_KERNEL
	@echo "nbval again under OPENBLAS_CORETYPE=$(SECOND_KERNEL): stored outputs must not depend on the BLAS kernel"
	OPENBLAS_CORETYPE=$(SECOND_KERNEL) $(BIN)/pytest $(NBVAL) $(NBVAL_PARALLEL) chapters
else
	@echo "SKIPPED: the second-kernel nbval pass forces an x86-64 OpenBLAS kernel (Prescott);"
	@echo "         this machine is $(ARCH), where no such common kernel is defined."
endif

test-site: $(STAMP)
	$(BIN)/pytest tests/test_site.py -v -s --tb=short

test: lint test-lib test-nbval test-nbval-second book-checked test-site

execute: $(STAMP)
	$(BIN)/jupyter-execute --inplace --timeout=600 chapters/*.ipynb

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_mnist1d.py

serve:
	cd _build/html && python3 -m http.server 8000 --bind 127.0.0.1

clean:
	rm -rf _build
