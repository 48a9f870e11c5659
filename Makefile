# `make test` is what CI runs (.ci/run): lint, type-check, then the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test test-fast demo lint typecheck pytest bench clean proto chromium promtool graphviz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs only Flows itself; tests also need the dev extras. -qq: errors only (no
# build-backend notices, no warnings about package indexes configured on the machine).
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $@

# The dashboard's browser test drives Debian's Chromium (Playwright never downloads a browser).
chromium:
	@command -v chromium >/dev/null || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing Debian's chromium for the dashboard's browser test"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else \
	        echo "make test needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	    fi; }

# $(call debian,COMMAND,PACKAGE,WHAT FOR): install a Debian package for a command tests use,
# when it is missing and we are root (else say what to install).
debian = @command -v $(1) >/dev/null || { \
    if [ "$$(id -u)" = 0 ]; then \
        echo "installing Debian's $(2) for $(1) ($(3))"; \
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $(2) >/dev/null; \
    else \
        echo "make test needs $(1): sudo apt-get install $(2)" >&2; exit 1; \
    fi; }

promtool:
	$(call debian,promtool,prometheus,the alert rules' tests)

graphviz:
	$(call debian,dot,graphviz,flows.ivm.write_png's test)

test: $(VENV)/.installed chromium promtool graphviz
	$(BIN)/ruff check flows tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile

# The inner loop: everything but the slow, browser and interop tests (about a minute and a half).
test-fast: $(VENV)/.installed
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow and not browser and not interop"

# The whole system on a simulated fleet, with a report (see README).
demo: $(VENV)/.runtime
	$(BIN)/flows demo --dir demo

bench: $(VENV)/.installed
	$(BIN)/python bench/ivm_meter_reads.py --store python --vs-stepping

clean:
	rm -rf $(VENV) bench/.venv-stepping .pytest_cache .mypy_cache .ruff_cache

# Regenerate the checked-in gRPC modules from flows/mediator/proto/mediator.proto.
proto: $(VENV)/.installed
	$(BIN)/python -m grpc_tools.protoc -I flows/mediator/proto --python_out=flows/mediator/proto \
		--grpc_python_out=flows/mediator/proto flows/mediator/proto/mediator.proto
	sed -i 's/^import mediator_pb2 as/from flows.mediator.proto import mediator_pb2 as/' \
		flows/mediator/proto/mediator_pb2_grpc.py
