# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format check audit mutation bench worker beat migrate bootstrap clean idp idp-deps system-deps \
	postman postman-deps postman-collection

install: $(STAMP) idp-deps  ## Create .venv and install the pinned dependencies

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

# The local OpenID Connect provider (accounts/devidp, npm oidc-provider) used by the tests and
# `make idp`. `npm ci` installs exactly the committed lock file; skipped when already done.
IDP_DIR := accounts/devidp
IDP_STAMP := $(IDP_DIR)/node_modules/.package-lock.json

idp-deps: $(IDP_STAMP)

$(IDP_STAMP): $(IDP_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(IDP_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	else \
		echo "npm not found: the OIDC provider tests will be skipped (or fail with REQUIRE_SERVICES=1)"; \
	fi

idp: idp-deps  ## Local OIDC provider on 127.0.0.1:9000 for `make run` (see docs/access.md)
	cd $(IDP_DIR) && node idp.mjs $${IDP_PORT:-9000}

# The Postman collection (postman/): openapi-to-postmanv2 builds it from the OpenAPI document,
# newman runs it. `npm ci` installs exactly the committed lock file; skipped when already done.
POSTMAN_DIR := postman
POSTMAN_STAMP := $(POSTMAN_DIR)/node_modules/.package-lock.json

postman-deps: $(POSTMAN_STAMP)

$(POSTMAN_STAMP): $(POSTMAN_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(POSTMAN_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.package-lock.json; \
	else \
		echo "npm not found: the Postman tests will be skipped (or fail with REQUIRE_SERVICES=1)"; \
	fi

postman-collection: install postman-deps  ## Rebuild postman/'s collection from the OpenAPI document (commit the result)
	@mkdir -p var
	$(PY) manage.py spectacular --format openapi-json --file var/openapi.json
	node $(POSTMAN_DIR)/build.mjs var/openapi.json

# `make postman` against the server of `make run` (another terminal); BASE_URL and API_KEY
# override the defaults (without API_KEY, an admin key is created with the same settings).
BASE_URL ?= http://127.0.0.1:8000
postman: install postman-deps  ## Run the Postman collection with newman against a live server
	@key="$${API_KEY:-$$($(PY) manage.py create_api_key postman --role admin --expires-days 1 2>/dev/null | tail -1)}"; \
	$(POSTMAN_DIR)/node_modules/.bin/newman run $(POSTMAN_DIR)/credit-platform.postman_collection.json \
		--environment $(POSTMAN_DIR)/local.postman_environment.json \
		--env-var baseUrl=$(BASE_URL) --env-var "apiKey=$$key"

system-deps:  ## Debian packages the tests and benchmarks drive (chromium, wrk, valgrind), installed when missing and root
	bin/ensure-system-deps

migrate: install
	$(PY) manage.py migrate --noinput

bootstrap: migrate  ## Migrate, load or train the default models, create the demo users
	$(PY) manage.py bootstrap --admin-url "http://$${HOST:-127.0.0.1}:$${PORT:-8000}/admin/"

run: bootstrap  ## Serve on http://127.0.0.1:8000 with worker and beat (embedded by default)
	bin/run

worker: install
	$(VENV)/bin/celery -A creditplatform worker --loglevel INFO --concurrency $${CELERY_CONCURRENCY:-2}

beat: install
	$(VENV)/bin/celery -A creditplatform beat --loglevel INFO

lint: install  ## ruff lint + format check + mypy (django-stubs, drf-stubs; config in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: install  ## Django system checks and migrations in sync
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run

# Known vulnerabilities in the installed dependencies (pip-audit; accepted ones, with their
# reasons, in pip-audit-ignore.txt). Fails when the vulnerability service cannot be reached.
audit: install  ## pip-audit of the virtualenv against PyPI's advisory data (bin/audit)
	$(PY) bin/audit

# In `make test`, a machine that cannot reach the vulnerability service gets a loud warning
# instead of a failure; findings always fail. AUDIT_ARGS= makes it strict.
AUDIT_ARGS ?= --if-reachable

test: lint check idp-deps postman-deps system-deps  ## Lint, checks, the dependency audit and the whole test suite
	$(PY) bin/audit $(AUDIT_ARGS)
	$(PY) -m pytest $(PYTEST_ARGS)

# Mutation testing (mutmut) of the pure decision modules listed in pyproject.toml's
# [tool.mutmut]: not in `make test` (about an hour of CPU). Results stay in mutants/;
# bin/mutation-score prints the score per module and fails under 90 % (docs/security.md).
MUTATION_CHILDREN ?= 2
mutation: install  ## Mutation testing of the decision modules (slow; not in `make test`)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN)
	$(PY) bin/mutation-score

bench: install system-deps  ## Benchmarks of the performance goals (docs/performance.md), each next to its baseline (own database)
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var/ .pytest_cache .ruff_cache .mypy_cache
