# `make report`: HTML report of the conversations in the tracker store (docs/operators.md).
#   make report                                   last 30 days, tracker store from endpoints.yml
#   make report SINCE=2026-11-01 UNTIL=2026-11-30 DB=postgresql://user@host:5432/rasa
# Writes reports/report.html and reports/unanswered_nlu.yml (UNANSWERED=reports/unanswered.csv for CSV).
SINCE ?=
UNTIL ?=
DB ?=
REPORT ?= reports/report.html
UNANSWERED ?= reports/unanswered_nlu.yml

.PHONY: report
report: install
	$(PY) scripts/report.py $(if $(DB),--db "$(DB)") $(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL)) \
	  --out "$(REPORT)" --unanswered-out "$(UNANSWERED)"
