# Podcast analytics pipeline. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SAMPLE := data/sample
# The scripts and styles of the GX data docs, pinned in gx/assets/package-lock.json (gx/data_docs.py).
ASSETS := gx/assets
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export RUNTIME__DLTHUB_TELEMETRY ?= false
export DO_NOT_TRACK ?= 1
# The data docs tests render pages in Debian's chromium: `make test` installs it when missing
# (as root, with apt-get), or stops at once saying how.
CHROMIUM ?= chromium
CHROMIUM_HINT := make test needs Debian's chromium; run: sudo apt-get update && sudo apt-get install -y chromium
chromium_missing = $(if $(shell command -v $(CHROMIUM)),,yes)
JAVA_HINT := --engine spark needs a Java runtime (17 or later); run: sudo apt-get install -y default-jre-headless
can_apt_install = $(and $(filter 0,$(shell id -u)),$(shell command -v apt-get))

.PHONY: help install install-spark run sample ingest test test-fast test-spark java browser lint docs serve bench bench-load bench-contract bench-pipeline bench-hourly bench-spark soak clean

help: ## to list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

$(ASSETS)/node_modules/.installed: $(ASSETS)/package.json $(ASSETS)/package-lock.json
	$(if $(shell command -v npm),,$(error make install needs npm for the data docs assets; run: sudo apt-get install -y npm))
	cd $(ASSETS) && npm ci --loglevel=error
	touch $@

install: $(VENV)/.installed $(ASSETS)/node_modules/.installed ## to create .venv and install the pinned dependencies (also the data docs' scripts and styles, with npm)

$(VENV)/.spark-installed: $(VENV)/.installed pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,spark]"
	touch $@

install-spark: java install $(VENV)/.spark-installed ## to add Spark for --engine spark (pyspark, dbt-spark, PyHive; Debian's Java runtime when missing)

java: ## to install Debian's Java runtime when missing (root), or stop saying how
	$(if $(shell command -v java),,$(if $(can_apt_install),,$(error $(JAVA_HINT))))
	@if ! command -v java >/dev/null 2>&1; then \
	    echo "installing Debian's Java runtime (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; \
	fi

$(SAMPLE)/_manifest.json: | $(VENV)/.installed
	$(PY) -m pipelines.generate --events 20000 --files 4 --seed 42 --out $(SAMPLE)

sample: $(SAMPLE)/_manifest.json ## to generate the bundled 20k-event sample

run: install sample ## to run the whole pipeline on the sample (python flows/main.py)
	$(PY) flows/main.py

test: browser install ## to run the test suite (installs Debian's chromium first if it is missing)
	$(PY) -m pytest

test-fast: install ## to run the inner loop: the pure helpers, every rule in both judges, the generator (under a minute)
	$(PY) -m pytest -q tests/unit tests/test_rules.py tests/test_generate.py

test-spark: install-spark ## to run the same data through DuckDB and Spark and compare (after make test in CI)
	$(PY) -m pytest -m spark tests/test_spark_rules.py tests/test_spark.py tests/test_spark_thrift.py

browser: ## to install Debian's chromium when it is missing (root), or stop saying how
	$(if $(chromium_missing),$(if $(can_apt_install),,$(error $(CHROMIUM_HINT))))
	@if ! command -v $(CHROMIUM) >/dev/null 2>&1; then \
	    echo "installing Debian's chromium (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	fi

docs: install ## to build the dbt docs site (dbt/target/static_index.html) and the GX data docs
	cd dbt && PODCAST_WAREHOUSE=$(abspath $(or $(PODCAST_WAREHOUSE),warehouse/podcast.duckdb)) ../$(VENV)/bin/dbt docs generate --static --profiles-dir . --project-dir . --quiet
	$(PY) -c "from gx.build import open_context; from gx.data_docs import finish_data_docs; c = open_context(); c.build_data_docs(); finish_data_docs(c)"
	@echo "dbt docs: dbt/target/static_index.html  |  data docs: gx/uncommitted/data_docs/local_site/index.html"

serve: install ## to start a local Prefect server, deploy prefect.yaml and run a process worker
	$(VENV)/bin/prefect server start --host 127.0.0.1 --port 4200 --background
	PREFECT_API_URL=http://127.0.0.1:4200/api $(VENV)/bin/prefect work-pool create podcast-process --type process --overwrite
	PREFECT_API_URL=http://127.0.0.1:4200/api PODCAST_PROJECT_DIR=$(CURDIR) $(VENV)/bin/prefect --no-prompt deploy --all
	PREFECT_API_URL=http://127.0.0.1:4200/api PODCAST_PROJECT_DIR=$(CURDIR) $(VENV)/bin/prefect worker start --pool podcast-process

lint: install ## to lint the Python code (ruff) and the SQL of dbt/ (sqlfluff, .sqlfluff)
	$(VENV)/bin/ruff check pipelines flows gx tests dbt/lint
	$(VENV)/bin/sqlfluff lint dbt/models dbt/macros dbt/tests

bench-load: install ## to time dlt loading against a bare DuckDB read_json (BENCH_EVENTS, default 1M)
	$(PY) -m tests.bench.load

bench-contract: install ## to time the GX contract against bare SQL applying the same rules (BENCH_EVENTS)
	$(PY) -m tests.bench.contract

bench-pipeline: install ## to time flows/main.py end to end against one bare DuckDB SQL script (BENCH_EVENTS)
	$(PY) -m tests.bench.pipeline

bench-hourly: install ## to time hourly runs against what their new data costs (BENCH_HISTORY, default 1M)
	$(PY) -m tests.bench.hourly

bench-spark: install-spark ## to time fresh runs with the dbt build on DuckDB and on Spark, side by side (BENCH_EVENTS)
	$(PY) -m tests.bench.spark

bench: bench-load bench-contract bench-pipeline bench-hourly ## to run the benchmarks (bench-spark apart: it needs make install-spark)

soak: install ## to SIGKILL the pipeline 200 times across its stages, rerunning and comparing each time
	$(PY) -m tests.crash --kills $(or $(KILLS),200)

clean: ## to remove the warehouse, exports, sample data and build output
	rm -rf warehouse exports $(SAMPLE) dbt/target dbt/logs gx/uncommitted bench_results.json
