"""The wording the actions assemble (data/texts.yml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

TEXTS_FILE = Path(__file__).resolve().parent.parent / "data" / "texts.yml"


@lru_cache(maxsize=4)
def load_texts(path: str = str(TEXTS_FILE)) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        return {str(key): str(value) for key, value in yaml.safe_load(handle).items()}
