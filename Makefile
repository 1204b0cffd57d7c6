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

# data/texts.yml (wording) and data/handoff.yml (opening hours) are read at run time: editing them never retrains.
TRAINING_INPUTS := config.yml domain.yml $(filter-out data/texts.yml data/handoff.yml,$(wildcard data/*.yml)) $(wildcard data/nlu/*.yml data/jieba/*)
SPACY_INPUTS := $(wildcard data/regions/*) data/nlu/synonyms.yml scripts/build_spacy_pipeline.py yibao/regions.py

.PHONY: help install install-test-tools train run shell test validate unit lint nlu-eval conversations dedupe stories crossval policy-check clean

# The first target: `make` alone lists what there is.
help:
	@echo "医保家庭助手 — make <target>"
	@echo "  run            start the assistant (web chat at http://localhost:5005/chat/; trains first if needed)"
	@echo "  test           everything CI runs: table check, lint, data validation, quality gates, stories, pytest"
	@echo "  unit           the tests that need no model and no server (under a minute)"
	@echo "  lint           ruff (lint and format check) and mypy on yibao/"
	@echo "  shell          talk to the assistant in the terminal"
	@echo "  train          train the model (only when it is older than its data)"
	@echo "  validate       rasa data validate --fail-on-warnings"
	@echo "  policy-check   check data/policy/policy_table.csv"
	@echo "  nlu-eval       NLU quality on the real test set and the old held-out set"
	@echo "  conversations  the multi-turn test conversations against real servers"
	@echo "  crossval       3-fold cross-validation of the NLU training data"
	@echo "  dedupe         training examples that nearly duplicate a test item"
	@echo "  report | bench | bench-compare | audit | web-test | screenshot   operator tools and benchmarks (mk/*.mk)"
	@echo "  clean          remove models, build and results"

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

# Tests marked e2e in tests/conftest.py (trained model, servers, browser, terminal) are left out.
unit: install
	$(PY) -m pytest -q -m "not e2e" tests

lint:
	@bash scripts/lint.sh

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

# What only the tests need (Chromium, a font, tmux, nginx); `make run` never installs these.
install-test-tools: install
	@bash scripts/install.sh --for-tests

test: train install-test-tools
	@bash scripts/test.sh

clean:
	rm -rf models build results .pytest_cache

# Targets of the operator tools, channels and benchmarks live in mk/*.mk.
-include mk/*.mk
