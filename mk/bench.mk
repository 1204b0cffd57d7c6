# Benchmarks (bench/, docs/benchmarks.md) and the scale-out demo (deploy/, docs/deployment.md).
.PHONY: bench bench-quick bench-compare bench-startup scale-out

# Speed, memory and NLU quality against a stock `rasa init` assistant and two NLU baselines, all
# trained in the run (about 15 minutes on 2 cores). Figures are printed and written to
# bench/results/latest.md; nothing is asserted.
bench: train
	$(PY) bench/run.py

# A smoke run of the same (smaller loads, no NLU baselines); not for figures.
bench-quick: train
	$(PY) bench/run.py --quick --skip-nlu

# This assistant at an earlier git revision against the working tree, same model, interleaved rounds:
# answers/s, p95 and CPU per message (about 4 minutes), e.g. `make bench-compare BEFORE=32142a5`;
# `make bench-compare OFF=graph_runner`: the working tree without that patch of rasa_ext/ against it with all.
bench-compare: train
	$(PY) bench/revisions.py $(if $(OFF),--off $(OFF),--before $(or $(BEFORE),HEAD))

# Two Rasa replicas and two action servers behind nginx on PostgreSQL + Redis, until Ctrl-C.
scale-out: train
	@bash deploy/scale-out.sh $(SCALE_ARGS)

# Where start-up time goes (TensorFlow, Rasa, spaCy, jieba, model load, first message) and the time
# from `python -m rasa_ext run` to the first answer (about 3 minutes).
bench-startup: train
	$(PY) bench/startup.py
