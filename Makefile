# Two commands on a fresh machine:  `make up`  (run the platform)  and  `make test`  (run the tests).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
ARGS   ?= --simulate

.PHONY: up test bench venv browser clean

$(BIN)/bedflow: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

venv: $(BIN)/bedflow

# Headless Chromium (Debian's) for the page test and the PDF report; poppler for PDF text checks.
browser:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || \
	  { (apt-get update -qq || sudo apt-get update -qq) >/dev/null; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils || \
	     sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils) >/dev/null; }

up: venv browser
	$(BIN)/bedflow up $(ARGS)

test: venv browser
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m bench.throughput

clean:
	rm -rf $(VENV) .bedflow tests/artifacts
