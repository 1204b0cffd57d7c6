"""The one way this project starts Rasa: ``python -m rasa_ext <rasa arguments>``.

Same command line as ``rasa`` (``python -m rasa_ext run --model ...``, ``... shell ...``). Before
Rasa's own ``main()`` it checks the installed versions against those the patches were written for,
applies the patches (``rasa_ext.install``), and sends the warnings of Rasa's dependencies
(deprecations of TensorFlow, SQLAlchemy, Sanic...) to a log file instead of the person's screen
(``YIBAO_WARNINGS_LOG``, default logs/warnings.log; ``-`` keeps them on the screen).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

DEFAULT_WARNINGS_LOG = "logs/warnings.log"
# Loggers whose start-up lines (which spaCy pipeline, which jieba dictionary, jieba's prefix cache)
# tell a person nothing; shown again with --debug or --verbose.
LOADING_CHATTER = ("rasa.nlu.utils.spacy_utils", "rasa.nlu.tokenizers.jieba_tokenizer")


def warnings_to_file(path: str) -> TextIO | None:
    """Writes every warning to ``path`` (append) from now on; None when it stays on the screen."""
    if path == "-":
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", encoding="utf-8", buffering=1)

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        handle.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
    return handle


def quiet_loading(argv: list[str]) -> None:
    if any(flag in argv for flag in ("-v", "--verbose", "-vv", "--debug")):
        return
    for name in LOADING_CHATTER:
        logging.getLogger(name).setLevel(logging.WARNING)
    import jieba  # it sets its own logger to DEBUG when imported, so only after the import

    jieba.setLogLevel(logging.WARNING)


def main() -> None:
    warnings_to_file(os.environ.get("YIBAO_WARNINGS_LOG", DEFAULT_WARNINGS_LOG))
    quiet_loading(sys.argv[1:])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

    import rasa_ext

    rasa_ext.install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
