# The two commands: `make run` (the app with its whole local stack) and `make test`.
# `make services` starts the stack without the app, for `func start` where Core Tools are installed.
.PHONY: run services test lint bench

run:
	@scripts/bootstrap.sh
	@.venv/bin/python -m devhost

services:
	@scripts/bootstrap.sh
	@.venv/bin/python -m devhost --services-only

test:
	@scripts/bootstrap.sh --browser
	@.venv/bin/python -m ruff check .
	@node_modules/.bin/pyright
	@.venv/bin/lint-imports --no-cache
	@.venv/bin/python -m pytest

lint:
	@.venv/bin/python -m ruff check .
	@node_modules/.bin/pyright
	@.venv/bin/lint-imports --no-cache

bench:
	@scripts/bootstrap.sh
	@.venv/bin/python -m bench
