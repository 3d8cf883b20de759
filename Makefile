# carbonplane developer entry points. Every target is safe to repeat.
#
#   make setup       system packages, .venv and the editable install (skipped when up to date)
#   make run         setup, then the end-to-end demo
#   make test        setup, Kafka and Redis up, then every test suite
#   make bench       setup, Kafka up, then the benchmarks (python -m bench)
#   make kafka-up / kafka-down / redis-up / redis-down
#   make schemas     regenerate the event schemas from the typed events
#   make clean       remove build outputs and caches (stops Kafka and Redis first)

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python

.PHONY: setup run test test-python bench kafka-up kafka-down redis-up redis-down schemas clean

setup:
	@scripts/setup.sh

run: setup
	$(VENV)/bin/carbonplane demo

# Further suites are added as prerequisites of `test`, each one failing the target on its own.
test: test-python test-node

# pytest exit code 5 means it collected no test: that is a broken suite, not a pass.
test-python: setup kafka-up redis-up
	@$(VENV)/bin/pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; the suite is broken" >&2; exit 1; fi; \
	exit $$rc

test-node: setup kafka-up ; @scripts/node-test.sh

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
