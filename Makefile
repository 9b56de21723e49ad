# The kit's two commands:  make lab  (JupyterLab on the student release)  and  make test.
# Both create .venv and install the pinned dependencies the first time; later runs skip that
# (the install is redone only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
KERNEL := model-compression-lab
# The kit's kernel and the student's Jupyter settings (jupyter/student/, jupyter/lab-settings/)
# live inside the venv, never in the home folder: each clone of the kit is self-contained.
JUPYTER_STAMP := $(VENV)/.jupyter-installed
JUPYTER_FILES := $(wildcard jupyter/student/*.json jupyter/student/*/*.json jupyter/lab-settings/*.json)
# make lab: the folder JupyterLab opens (self-learners: make lab LAB_DIR=solutions);
# make formgrader: the course root. JUPYTER_ARGS: more options for `jupyter lab` (e.g. --port=9000).
LAB_DIR ?= labs
COURSE  ?= $(CURDIR)
# nbgrader runs `alembic` and `jupyter` from PATH: put the venv's bin first.
export PATH := $(BIN):$(PATH)
# Headless plots for tests and grading; the JupyterLab targets unset it (env -u), so that kernels
# started from the browser draw inline.
export MPLBACKEND ?= Agg

.PHONY: install lab formgrader lint test test-fast release collect autograde feedback export solutions checkpoints clean-grading student-kit cpu-classes

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(JUPYTER_STAMP): $(STAMP) $(JUPYTER_FILES)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))"
	mkdir -p $(VENV)/etc/jupyter $(VENV)/share/jupyter/lab/settings
	cp -R jupyter/student/. $(VENV)/etc/jupyter/
	cp jupyter/lab-settings/overrides.json $(VENV)/share/jupyter/lab/settings/
	touch $(JUPYTER_STAMP)

install: $(STAMP) $(JUPYTER_STAMP)

## JupyterLab for students on the release labs/: the notebook, nbgrader's Validate, the kit's kernel
lab: install
	env -u MPLBACKEND $(BIN)/jupyter lab --ServerApp.root_dir="$(LAB_DIR)" $(JUPYTER_ARGS)

## JupyterLab for instructors at the course root, with nbgrader's formgrader (Nbgrader menu)
formgrader: install
	cd "$(COURSE)" && JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter/instructor$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))" \
		env -u MPLBACKEND $(BIN)/jupyter lab --ServerApp.root_dir=. $(JUPYTER_ARGS)

## style and types (ruff, mypy; configured in pyproject.toml): quick, so the tests run it first
lint: install
	$(BIN)/ruff check utils autograder tests
	$(BIN)/mypy

## every test: lint, unit tests, course tests (release, autograding) and every solution notebook executed
test: lint
	$(PY) tests/system_packages.py
	$(PY) -m pytest --nbval-lax --nbval-current-env tests solutions

## lint and unit tests only (no notebook execution)
test-fast: lint
	$(PY) tests/system_packages.py
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
	$(PY) -m autograder autograde $(LABS) $(if $(JOBS),--jobs $(JOBS)) $(if $(STUDENT),--student $(STUDENT)) \
		$(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(FORCE),--force)

feedback: install
	$(PY) -m autograder feedback $(LABS) $(if $(STUDENT),--student $(STUDENT))

export: install
	$(PY) -m autograder export

## the zip to hand out: dist/model-compression-lab-student.zip (labs, utils, data, student set-up
## from student_kit/; no solutions, hidden tests or autograder)
student-kit: install
	$(PY) -m autograder student-kit

## grade every lab's solution (full marks) and release (zero) as each CPU class up to this
## machine's would (AVX2, AVX-512, AVX-512 VNNI, AMX; utils/cpu.py), one table; LABS= to choose
cpu-classes: install
	$(PY) -m autograder cpu-classes $(LABS)

## re-execute the worked solutions in place (outputs and plots committed for self-learners)
solutions: install
	$(PY) -m autograder execute-solutions

## retrain the kit's baseline checkpoints in data/checkpoints/ (one thread, seed 0)
checkpoints: install
	$(PY) -m utils.train

clean-grading:
	rm -rf grading
