# MergeAssist: `make demo` runs the app with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

# Django 6.1 needs Python 3.12+. Plain python3 may be older (3.11 on these machines), so try the
# candidates in turn; pyenv's shims refuse a version that isn't selected, hence PYENV_VERSION.
PYTHON_FOR_VENV := $(shell \
  for c in python3.12 python3.13 python3; do \
    for v in "" 3.12.1 3.13.0; do \
      if PYENV_VERSION=$$v $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
        echo "PYENV_VERSION=$$v $$c"; exit 0; fi; \
    done; \
  done; \
  for p in $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do echo $$p; exit 0; done)

.PHONY: demo test test-browser bench install install-dev clean

$(VENV)/.installed: requirements.txt
	@if [ -z '$(PYTHON_FOR_VENV)' ]; then \
	  echo "MergeAssist needs Python 3.12 or newer. Install it (e.g. 'apt-get install python3.12' or 'pyenv install 3.12') and run make again." >&2; exit 1; fi
	@[ -x $(PY) ] || env $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The demo runs in development mode (DJANGO_DEBUG is off unless set): the sandbox CRM and its
# generator (Faker, a development requirement) are installed only then.
demo: install-dev
	DJANGO_DEBUG=true $(PY) manage.py demo $(DEMO_ARGS)

# The whole suite on SQLite, then the whole suite again on PostgreSQL when a server is named
# (.ci/run starts one). The tests turn DJANGO_DEBUG on themselves (tests/development_mode.py).
test: install-dev
	$(PY) -m pytest
	@if [ -n "$$MERGEASSIST_TEST_POSTGRES_URL" ]; then \
	  echo "== The whole suite again, on PostgreSQL"; \
	  DATABASE_URL="$$MERGEASSIST_TEST_POSTGRES_URL" $(PY) -m pytest; \
	fi

bench: install-dev
	$(PIP) install --quiet -r requirements-bench.txt
	$(PY) bench/bench_matching.py
	$(PY) bench/bench_commands.py
	$(PY) bench/bench_sync.py
	$(PY) bench/bench_review.py
	$(PY) bench/bench_resume.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles .pytest_cache
