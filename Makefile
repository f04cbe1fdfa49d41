# tfrobust: `make demo` and `make test` each do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfrobust-installed
FMNIST := /usr/share/datasets/fashion-mnist
DEMO_OUT ?= runs/demo

.PHONY: demo test install data browser lint bench bench-pgd bench-autoattack bench-studies bench-ray clean

# The demo study (configs/studies/demo.yaml, quick preset); re-running resumes / reuses finished cells.
demo: install data
	$(BIN)/tfrobust study run configs/studies/demo.yaml --preset quick --out $(DEMO_OUT)

# Where the browser target can install Chromium (root with apt), the report rendering test must run, not skip.
test: install data browser
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then export TFROBUST_REQUIRE_BROWSER=1; fi; \
	$(BIN)/python -m pytest -m "not slow" -q

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Debian's package holds the original Fashion-MNIST idx files (the embedded default).
data:
	@if [ -f $(FMNIST)/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: $(FMNIST)"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's dataset-fashion-mnist ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
	    || echo "warning: apt-get could not install dataset-fashion-mnist; provide the idx files with --data-dir or TFROBUST_DATA_DIR"; \
	else \
	  echo "Fashion-MNIST is not installed. Run: sudo apt-get install dataset-fashion-mnist (or set TFROBUST_DATA_DIR to a folder with the idx .gz files)"; \
	fi

# Debian's Chromium renders report.html in the report test (skipped with a reason without it, except
# where this target can install it: there `make test` requires it).
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
	  true; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium (for the report.html test) ..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: apt-get could not install chromium; the report.html rendering test will be skipped"; \
	else \
	  echo "chromium is not installed (sudo apt-get install chromium); the report.html rendering test will be skipped"; \
	fi

lint: install
	$(BIN)/ruff check tfrobust cli tests benchmarks

bench: install data
	$(BIN)/python benchmarks/train_kim_fmnist.py --out benchmarks/results

clean:
	rm -rf $(VENV) runs .pytest_cache

bench-pgd: install data
	$(BIN)/python -m pip install --quiet --target benchmarks/.art adversarial-robustness-toolbox
	PYTHONPATH=benchmarks/.art $(BIN)/python benchmarks/pgd.py --out benchmarks/results

# The evaluation attacks (autoattack suite, APGD, early-exit tables) against ART's (43 min measured on 2 cores
# shared with other jobs, load 4-8; --suite-models adversarial saves about 40%); ART's AutoAttack imports multiprocess.
bench-autoattack: install data
	$(BIN)/python -m pip install --quiet --target benchmarks/.art adversarial-robustness-toolbox multiprocess
	PYTHONPATH=benchmarks/.art $(BIN)/python benchmarks/autoattack.py --out benchmarks/results

# Every study config's quick preset from scratch: wall time and report tables (about 40 min on 2 cores).
bench-studies: install data
	$(BIN)/python benchmarks/study_presets.py --fresh --out benchmarks/results

# The sequential runner against --executor ray (local instance, 2 workers) on 8 independent cells (about 3 min).
bench-ray: install
	$(BIN)/python benchmarks/ray_executor.py --out benchmarks/results
