# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Development processes run with DEBUG=1 (unless DEBUG is set), which lets them start on the
# built-in development key; with DEBUG=0 the settings refuse to start without SECRET_KEY.
DEV := DEBUG=$${DEBUG:-1}

.PHONY: run test install install-dev migrate demo demo-reset lint bench clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@mkdir -p var
	$(DEV) $(BIN)/python manage.py migrate --noinput

demo: migrate
	$(DEV) $(BIN)/python manage.py load_demo

## make demo-reset: empty the database and load the demo data again (its past mailings are
## then sent again by the next `make run`); the local mailbox is emptied too.
demo-reset: migrate
	$(DEV) $(BIN)/python manage.py flush --noinput
	rm -rf var/mailbox
	$(DEV) $(BIN)/python manage.py load_demo

## make run: install, migrate, load demo data once, start web + worker + mail catcher.
## `make run PORT=8123 HOST=0.0.0.0` serves elsewhere; e-mail links follow (unless SITE_URL is set).
# Ctrl-C reaches make, the recipe's shell and honcho. honcho stops every process and answers
# 130, a normal end here; the trap keeps the shell waiting for it rather than dying at once,
# which made make report "Interrupt" (or "Error 130") over the last lines of the worker.
run: demo
	@$(DEV) $(BIN)/python manage.py welcome --url http://$(HOST):$(PORT)/
	trap : INT; $(DEV) HOST=$(HOST) PORT=$(PORT) WEB_PORT=$(PORT) $(BIN)/honcho start \
		$$($(DEV) $(BIN)/python manage.py procfile_processes) || [ $$? -eq 130 ]

## make test: install the development requirements and run the whole suite.
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(DEV) $(BIN)/python manage.py check
	$(DEV) $(BIN)/python manage.py makemigrations --check --dry-run

## make messages: refresh locale/ru/LC_MESSAGES/django.po from the code, then compile it.
messages: install
	$(DEV) $(BIN)/python manage.py makemessages -l ru --ignore=.venv --ignore=bench --ignore=var --ignore=test-artifacts --ignore=staticfiles --ignore=media
	$(DEV) $(BIN)/python manage.py compilemessages --ignore=.venv

bench: install-dev
	@# Benchmarks measure with DEBUG off (as in production), so they bring their own key.
	@for script in bench/*.py; do echo "== $$script"; SECRET_KEY=$${SECRET_KEY:-benchmark-only-key} $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var staticfiles
