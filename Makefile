# Two commands: `make demo` and `make test`. Each sets up .venv from the pinned lock file first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-shop
DEMO_CUSTOMERS ?= 20000
# The generated shop's history ends on 2025-12-31: the demo looks at its last 30 days.
DEMO_FROM ?= 2025-12-01
DEMO_AS_OF ?= 2025-12-31

.PHONY: demo test setup lock docs bench clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Tenure needs Python 3.11+ (set PYTHON=python3.11)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/tenure init --loyalty $(DEMO_DIR)
	$(BIN)/tenure generate --customers $(DEMO_CUSTOMERS) --seed 7 --out $(DEMO_DIR)/input
	$(BIN)/tenure ingest customers $(DEMO_DIR)/input/customers.parquet --workspace $(DEMO_DIR)
	$(BIN)/tenure ingest orders $(DEMO_DIR)/input/orders.parquet --workspace $(DEMO_DIR)
	$(BIN)/tenure ingest order_items $(DEMO_DIR)/input/order_items.parquet --workspace $(DEMO_DIR)
	$(BIN)/tenure ingest events $(DEMO_DIR)/input/events.parquet --workspace $(DEMO_DIR)
	$(BIN)/tenure status --workspace $(DEMO_DIR)
	$(BIN)/tenure run --as-of $(DEMO_FROM) --workspace $(DEMO_DIR)
	$(BIN)/tenure run --as-of $(DEMO_AS_OF) --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by lifecycle --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by rf --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by rfm --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by churn_risk --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by tier --workspace $(DEMO_DIR)
	$(BIN)/tenure segments --by membership --workspace $(DEMO_DIR)
	$(BIN)/tenure transitions --from $(DEMO_FROM) --to $(DEMO_AS_OF) --by lifecycle --workspace $(DEMO_DIR)
	@echo "Who the RF ladder's 'wandering' rung would reach on $(DEMO_AS_OF) (a preview: nothing is sent):"
	$(BIN)/tenure campaigns preview --as-of $(DEMO_AS_OF) --campaign rf-wandering --workspace $(DEMO_DIR)
	@echo "The report of the demo shop (open it in a browser):"
	$(BIN)/tenure report --as-of $(DEMO_AS_OF) --workspace $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

# Regenerate the lock file from pyproject ranges (a maintainer's step, not part of set-up).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q -e '.[postgres,pyspark,dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^tenure' > requirements.lock
	rm -rf .lockenv

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .hypothesis
