# tfrobust: `make demo` and `make test` each do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfrobust-installed
FMNIST := /usr/share/datasets/fashion-mnist
DEMO_OUT ?= runs/demo

.PHONY: demo test install data lint bench bench-pgd clean

demo: install data
	$(BIN)/tfrobust train --config configs/demo.yaml --out $(DEMO_OUT)

test: install data
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

lint: install
	$(BIN)/ruff check tfrobust cli tests benchmarks

bench: install data
	$(BIN)/python benchmarks/train_kim_fmnist.py --out benchmarks/results

clean:
	rm -rf $(VENV) runs .pytest_cache

bench-pgd: install data
	$(BIN)/python -m pip install --quiet --target benchmarks/.art adversarial-robustness-toolbox
	PYTHONPATH=benchmarks/.art $(BIN)/python benchmarks/pgd.py --out benchmarks/results
