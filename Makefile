# Two entry points: `make demo` (main job, offline) and `make test` (the test suite CI runs).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test models clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.14.1 + torchvision 0.29.1 are the builds this project is tested with (timm needs torchvision)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/swin-hub demo

test: install
	$(PY) -m pytest -q

models: install
	$(VENV)/bin/swin-hub models

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache build dist
