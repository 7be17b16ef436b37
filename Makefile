# exam_app — the commands the README shows.
#   make run    install, migrate, load the demo session (if empty), serve on :5000
#               (QR codes point at PUBLIC_URL, by default http://HOST:PORT)
#               (128 threads a worker: the jury screens' long polls, see README "Production")
#   make test   run the test suite (SQLite by default; TEST_DATABASE_URL for PostgreSQL),
#               ending with what it skipped and why
#   make bench  run the benchmarks (one JSON line each)
#   make lint   ruff

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := exam_app

.PHONY: run test bench lint install check-system clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# WeasyPrint needs Pango; HarfBuzz's subsetter halves PDF time. Say so, in one line each.
check-system: install
	@$(BIN)/python -c "import weasyprint" 2>/dev/null || { \
	  echo "WeasyPrint ne trouve pas ses bibliothèques système : sudo apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"; exit 1; }
	@/sbin/ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || \
	  echo "Conseil : sudo apt-get install -y libharfbuzz-subset0 (PDF deux fois plus rapides)."

run: check-system
	$(BIN)/flask db upgrade
	$(BIN)/flask demo
	@echo "exam_app sur http://$(HOST):$(PORT)/ (Ctrl+C pour arrêter)"
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} PUBLIC_URL=$${PUBLIC_URL:-http://$(HOST):$(PORT)} \
	  $(BIN)/gunicorn --workers 2 --threads 128 --preload --keep-alive 75 \
	  --bind $(HOST):$(PORT) --access-logfile - wsgi:app

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	@for script in bench/*.py; do \
	  [ "$$(basename $$script)" = "_common.py" ] && continue; \
	  $(BIN)/python $$script || exit 1; \
	done

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
