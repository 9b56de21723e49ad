# The kit's two commands:  make lab  (JupyterLab on the student release)  and  make test.
# Both create .venv and install the pinned dependencies the first time; later runs skip that
# (the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
KERNEL := model-compression-lab
# nbgrader runs `alembic` and `jupyter` from PATH: put the venv's bin first.
export PATH := $(BIN):$(PATH)
export MPLBACKEND ?= Agg

.PHONY: install lab test test-fast release collect autograde feedback export solutions checkpoints clean-grading

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "Python ($(KERNEL))"
	touch $(STAMP)

install: $(STAMP)

## JupyterLab on the student release (labs/)
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=labs

## every test: unit tests, course tests (release, autograding) and every solution notebook executed
test: install
	$(PY) -m pytest --nbval-lax --nbval-current-env tests solutions

## unit tests only (no notebook execution)
test-fast: install
	$(PY) -m pytest -m "not notebooks" tests

## regenerate the student release labs/ from solutions/
release: install
	$(PY) -m autograder release

## the instructor's grading commands (python -m autograder --help); e.g.
##   make collect FROM=~/Downloads/submissions.zip LAB=01_pruning
##   make autograde LABS="00_orientation 01_pruning" JOBS=2
##   make autograde STUDENT=alice      (every lab alice submitted; LABS and STUDENT combine)
collect: install
	$(PY) -m autograder collect "$(FROM)" $(LAB)

autograde: install
	$(PY) -m autograder autograde $(LABS) $(if $(JOBS),--jobs $(JOBS)) $(if $(STUDENT),--student $(STUDENT))

feedback: install
	$(PY) -m autograder feedback $(LABS) $(if $(STUDENT),--student $(STUDENT))

export: install
	$(PY) -m autograder export

## re-execute the worked solutions in place (outputs and plots committed for self-learners)
solutions: install
	$(PY) -m autograder execute-solutions

## retrain the kit's baseline checkpoints in data/checkpoints/ (one thread, seed 0)
checkpoints: install
	$(PY) -m utils.train

clean-grading:
	rm -rf grading
