# avremix — `make run` and `make test` are all the set-up a fresh machine needs (no root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCENE  := samples/input/scene.mp4
export HF_HUB_OFFLINE := 1

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS  := espeak-ng fluidsynth timgm6mb-soundfont heroes-sound-effects sound-theme-freedesktop sox

.PHONY: install run test test-all bench bench-batch bench-data eval data-assets data-tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# a mis-mixed 12 s scene (procedural sources, no download) and the director's mix it came from
$(SCENE): | $(STAMP)
	$(BIN)/python -m avremix.samples --scene samples

# highlight the scene, score it against the director's mix, and write a page to look at and listen to
run: $(STAMP) $(SCENE)
	$(BIN)/avremix probe $(SCENE)
	$(BIN)/avremix highlight $(SCENE) -o samples/highlighted/scene.mp4 --overwrite
	$(BIN)/avremix evaluate --est samples/highlighted --ref samples/reference --input samples/input --out samples/run
	$(BIN)/avremix report samples/run -o samples/report.html --overwrite
	@echo "open samples/report.html: the scene before and after, beside the director's mix"

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

# speed and memory (benchmarks/), then the quality of the shipped defaults on their real test splits,
# regenerated and compared with their model cards (fails when a number moved more than 1 %)
bench: $(STAMP)
	$(MAKE) data-assets COLLECTION=starter
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_batch.py
	$(BIN)/python docs/eval_cards.py --work $${AVREMIX_EVAL:-/tmp/avremix-eval} --check --print --only separators-real highlight-cfm-real

bench-batch: $(STAMP)
	$(BIN)/python benchmarks/bench_batch.py

bench-data: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py

# regenerate every table of the model cards from the shipped checkpoints (builds the datasets it needs
# into $$AVREMIX_EVAL, default /tmp/avremix-eval; the real ones need `make data-assets`); `make eval CHECK=1`
# only compares (exit 1 when a number is more than 1 % off)
eval: $(STAMP)
	$(MAKE) data-assets COLLECTION=starter
	$(BIN)/python docs/eval_cards.py --work $${AVREMIX_EVAL:-/tmp/avremix-eval} $(if $(CHECK),--check)

# real recordings (speech, music, effects, ambience) from Debian's archive into $$AVREMIX_ASSETS
# (default ~/.cache/avremix/assets): apt-get download + dpkg -x, no root, nothing installed system-wide
data-assets: $(STAMP)
	$(BIN)/avremix assets --fetch --collection $(or $(COLLECTION),all)

# optional system-wide Debian tools for `--sources assets`: espeak-ng voices, fluidsynth + a GM soundfont, UI sounds
data-tools:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLS)

clean:
	rm -rf samples bench-out .pytest_cache
