# The two commands a newcomer needs: `make book` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with .nbval-sanitize.cfg --nbval-cell-timeout=600

# One BLAS thread: matrix products then sum in a fixed order, so stored outputs reproduce
# exactly on any machine.  A private matplotlib config keeps its font cache out of cell outputs.
export OMP_NUM_THREADS      := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS      := 1
export MPLCONFIGDIR         := $(CURDIR)/$(VENV)/mplconfig
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help install book test lint execute bench serve clean

help:
	@echo "make book     build the HTML book (notebooks executed) into _build/html"
	@echo "make test     library tests + strict nbval of every chapter + ruff + the -W book build"
	@echo "make execute  re-execute every chapter in place (refresh the stored outputs)"
	@echo "make bench    time relunet against PyTorch CPU (installs torch==2.13.0 into .venv)"
	@echo "make serve    serve _build/html on http://localhost:8000"

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -c "import matplotlib.pyplot"  # build the font cache now, not inside a cell
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check lib tests chapters
	$(BIN)/ruff format --check lib tests chapters

test: $(STAMP) lint
	$(BIN)/pytest $(NBVAL) tests chapters
	$(MAKE) book

execute: $(STAMP)
	$(BIN)/jupyter-execute --inplace --timeout=600 chapters/*.ipynb

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_train_step.py

serve:
	cd _build/html && python3 -m http.server 8000 --bind 127.0.0.1

clean:
	rm -rf _build
