# carbonplane developer entry points. Every target is safe to repeat.
#
#   make setup       system packages, .venv and the editable install (skipped when up to date)
#   make run         setup, then the end-to-end demo
#   make test        setup, Kafka and Redis up, then every test suite (and a pure-Python pass),
#                    then ruff (lint and format check)
#   make lint        ruff check and ruff format --check over the tree
#   make bench       setup, Kafka up, then the benchmarks (python -m bench)
#   make kafka-up / kafka-down / redis-up / redis-down
#   make schemas     regenerate the event schemas from the typed events
#   make clean       remove build outputs and caches (stops Kafka and Redis first)

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python

.PHONY: setup run test test-python oidc-provider lint bench kafka-up kafka-down redis-up redis-down schemas clean

setup:
	@scripts/setup.sh

run: setup
	$(VENV)/bin/carbonplane demo

# Further suites are added as prerequisites of `test`, each one failing the target on its own.
test: test-python test-node lint

# ruff (lint and format, line length 100; settings in pyproject.toml), the version setup installs.
lint: setup
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Two pytest runs: every test (on the compiled modules when built), then the pure-Python pass:
# the engine, gateway and HTTP tests again with CARBONPLANE_PURE=1, so the .py sources the compiled
# copies are built from stay tested. Both always run; either failing fails the target. pytest exit
# code 5 means it collected no test: that is a broken suite, not a pass.
PURE_TESTS := tests/unit/gateway tests/unit/http tests/integration/proxy
test-python: setup kafka-up redis-up oidc-provider
	@$(VENV)/bin/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; the suite is broken" >&2; rc=1; fi; \
	echo "make test: pure-Python pass (CARBONPLANE_PURE=1) over $(PURE_TESTS)"; \
	CARBONPLANE_PURE=1 $(VENV)/bin/pytest -q -p no:cacheprovider $(PURE_TESTS); pure=$$?; \
	if [ $$pure -eq 5 ]; then echo "make test: the pure pass collected no tests; the suite is broken" >&2; pure=1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$pure

test-node: setup kafka-up ; @scripts/node-test.sh

# The local OpenID provider (npm oidc-provider) of the openid-connect plugin's integration tests.
oidc-provider: ; @scripts/oidc-provider.sh install

bench: setup kafka-up
	$(PY) -m bench

kafka-up:
	@scripts/kafka.sh up

kafka-down:
	@scripts/kafka.sh down

redis-up:
	@scripts/redis.sh up

redis-down:
	@scripts/redis.sh down

schemas: setup
	$(VENV)/bin/carbonplane schemas generate

clean: kafka-down redis-down
	rm -rf .cache build dist .pytest_cache src/*.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
