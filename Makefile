# The two README commands: `make example` (install + run the example) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin

.PHONY: example test test-slow lint report clean

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

example: $(VENV)/.installed  ## install, then run the embedded example study (offline)
	$(BIN)/snakemake --cores $(CORES)

test: $(VENV)/.installed  ## install, then run lint + the default test suite
	$(BIN)/ruff check src tests benchmarks workflow resources/scripts
	$(BIN)/ruff format --check src tests benchmarks workflow resources/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(VENV)/.installed  ## the slow tests named in issues' acceptance (SLURM, scale)
	$(BIN)/python -m pytest -m slow -q

report: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --report report.html

clean:
	rm -rf results .snakemake
