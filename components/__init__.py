"""Rasa NLU components of this project (plugged in through config.yml; no Rasa internals patched)."""
