"""How well the assistant understands real people, measured on test data kept apart from training.

- `sets`: the real test sets under tests/real/ and the old held-out set, and near-duplicate checks;
- `single`: every test question through the trained NLU and the dialogue state, as the assistant acts;
- `conversations`: the multi-turn test conversations played against a real Rasa and action server;
- `gate`: the figures against tests/quality_thresholds.yml.
"""
