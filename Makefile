# avremix — `make run` and `make test` are all the set-up a fresh machine needs (no root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := samples/sample.mp4
export HF_HUB_OFFLINE := 1

.PHONY: install run test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(SAMPLE): | $(STAMP)
	mkdir -p samples
	$(BIN)/python -m avremix.samples $(SAMPLE) --duration 30

run: $(STAMP) $(SAMPLE)
	$(BIN)/avremix probe $(SAMPLE)
	$(BIN)/avremix highlight $(SAMPLE) -o samples/sample.highlight.mp4 --strength 0 --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf samples bench-out .pytest_cache
