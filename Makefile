# 医保家庭助手 — the two commands a person needs are `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# No usage or crash reports leave the machine.
export RASA_TELEMETRY_ENABLED := false
export PYTHONWARNINGS := ignore::DeprecationWarning

TRAINING_INPUTS := config.yml domain.yml $(filter-out data/texts.yml,$(wildcard data/*.yml)) $(wildcard data/nlu/*.yml data/jieba/*)
SPACY_INPUTS := $(wildcard data/regions/*) data/nlu/synonyms.yml scripts/build_spacy_pipeline.py yibao/regions.py

.PHONY: install train run shell test validate unit nlu-eval conversations dedupe stories crossval policy-check clean

install:
	@bash scripts/install.sh

build/spacy_zh/meta.json: $(SPACY_INPUTS) | install
	@$(PY) scripts/build_spacy_pipeline.py build/spacy_zh

models/yibao.tar.gz: $(TRAINING_INPUTS) build/spacy_zh/meta.json | install
	@echo "==> training (the model is older than its data)"
	$(RASA) train --fixed-model-name yibao --out models

# Trains only when the model is older than its data.
train: models/yibao.tar.gz

run: train
	@bash scripts/run.sh

shell: train
	@bash scripts/run.sh shell

validate: install build/spacy_zh/meta.json
	$(RASA) data validate --fail-on-warnings

policy-check: install
	$(PY) -m yibao.policy_check

unit: install build/spacy_zh/meta.json
	$(PY) -m pytest -q tests

nlu-eval: train
	@bash scripts/nlu_eval.sh

# The multi-turn test conversations against a real Rasa and action server, failures shown.
conversations: train
	$(PY) -m quality.conversations --show-failures
	$(PY) -m quality.gate conversations results/conversations.json

# Training examples that nearly duplicate a test item (`--remove` deletes them from data/nlu/).
dedupe: install
	$(PY) -m quality.dedupe

crossval: install build/spacy_zh/meta.json
	$(RASA) test nlu --nlu data/nlu --cross-validation --folds 3 --out results/crossval

test: train
	@bash scripts/test.sh

clean:
	rm -rf models build results .pytest_cache

# Targets of the operator tools, channels and benchmarks live in mk/*.mk.
-include mk/*.mk
