# avremix — `make run` and `make test` are all the set-up a fresh machine needs (no root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := samples/sample.mp4
export HF_HUB_OFFLINE := 1

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS  := espeak-ng fluidsynth timgm6mb-soundfont heroes-sound-effects sound-theme-freedesktop sox

.PHONY: install run test test-all bench bench-batch bench-data data-assets data-tools clean

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
	$(BIN)/avremix highlight $(SAMPLE) -o samples/sample.highlight.mp4 --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_batch.py

bench-batch: $(STAMP)
	$(BIN)/python benchmarks/bench_batch.py

bench-data: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py

# real recordings (speech, music, effects, ambience) from Debian's archive into $$AVREMIX_ASSETS
# (default ~/.cache/avremix/assets): apt-get download + dpkg -x, no root, nothing installed system-wide
data-assets: $(STAMP)
	$(BIN)/avremix assets --fetch

# optional system-wide Debian tools for `--sources assets`: espeak-ng voices, fluidsynth + a GM soundfont, UI sounds
data-tools:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLS)

clean:
	rm -rf samples bench-out .pytest_cache
