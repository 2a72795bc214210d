# Two commands matter: `make run` and `make test`. Everything they need they install themselves.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PG_HOST ?= 127.0.0.1
DB_NAME ?= secdesk
export DEBUG ?= 1
export PUBLIC_BASE_URL ?= http://127.0.0.1:8000

.PHONY: run test install services browser db lint fmt check-deploy clean

$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

# Bytecode compiled at install: long-lived processes start (and serve their first request) without compiling.
$(VENV)/.installed: requirements.lock Makefile $(BIN)/uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	touch $@

install: $(VENV)/.installed

services:
	@bash scripts/ensure-services.sh

browser:
	@bash scripts/ensure-chromium.sh

db: install services
	@psql -h $(PG_HOST) -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$(DB_NAME)'" | grep -q 1 \
		|| createdb -h $(PG_HOST) -U postgres $(DB_NAME)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py collectstatic --no-input -v 0

run: db
	$(BIN)/python manage.py seed_demo
	@echo "SecondDesk on http://127.0.0.1:8000  (Ctrl-C stops web, worker and beat)"
	$(BIN)/honcho start -f Procfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

test: install services lint browser
	$(BIN)/pytest -n 2 --dist loadfile

check-deploy: install
	DEBUG=0 SECRET_KEY=$$(openssl rand -hex 32) ALLOWED_HOSTS=seconddesk.example.com \
		PUBLIC_BASE_URL=https://seconddesk.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles test-output
