# The two README commands: `make example` (install + run the example) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
CORES ?= 2
# pytest-xdist workers for the test suites (each workflow test runs snakemake --cores 2 itself;
# two workers keep a 2-core machine busy while one of them waits on a job chain or a server);
# work units: tests/conftest.py pytest_collection_modifyitems
TEST_WORKERS ?= 2
BIN := $(VENV)/bin

.PHONY: example example-tb test test-slow lint report clean fixtures

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

example: $(VENV)/.installed  ## install, then run the embedded example study (offline)
	$(BIN)/snakemake --cores $(CORES)

example-tb: $(VENV)/.installed  ## run the tuberculosis example (7 real GEO cohorts, offline; results/tb)
	$(BIN)/snakemake --cores $(CORES) --configfile config/tb/config.yaml

test: $(VENV)/.installed  ## install, then run lint + the default test suite
	$(BIN)/ruff check src tests benchmarks workflow resources/scripts
	$(BIN)/ruff format --check src tests benchmarks workflow resources/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow" -q -n $(TEST_WORKERS) --dist loadscope

test-slow: $(VENV)/.installed  ## the slow tests named in issues' acceptance (SLURM, scale)
	$(BIN)/python -m pytest -m slow -q -n $(TEST_WORKERS) --dist loadscope

# Every fixture script under tests/fixtures (make*.R / make*.py, plus signature/delong_proc.R), each with
# its interpreter. Scripts documented as "run from the repo root" run from here; the others in their own
# folder (Python before R within a folder: enrichment's R script reads what its Python script writes).
# Needs R 4.2 with limma, sva, DESeq2, metafor, pROC (see tests/README.md).
FIXTURES_FROM_ROOT := tests/fixtures/combat/make_fixtures.R tests/fixtures/limma/make_fixtures.R \
	tests/fixtures/rcompat/make_fixtures.R
fixtures: $(VENV)/.installed  ## regenerate every test fixture from its script
	@set -e; for s in $$(find tests/fixtures -name 'make*.py' | sort) \
	    $$(find tests/fixtures \( -name 'make*.R' -o -name 'delong_proc.R' \) | sort); do \
	  case $$s in *.py) run="$(CURDIR)/$(BIN)/python";; *.R) run=Rscript;; esac; \
	  echo "== $$run $$s"; \
	  case " $(FIXTURES_FROM_ROOT) " in \
	    *" $$s "*) $$run $$s;; \
	    *) (cd $$(dirname $$s) && $$run $$(basename $$s));; \
	  esac; \
	done

report: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --report report.html

clean:
	rm -rf results .snakemake
