"""Write the credentials file `make run` uses: credentials.yml plus each optional channel whose
environment variables are set (secrets stay in the environment; the channel classes read them).

Usage: python scripts/credentials.py OUTPUT.yml
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
# channel class -> the environment variable that switches it on
OPTIONAL_CHANNELS = {
    "channels.wechat.WeChatInput": "WECHAT_TOKEN",
    "channels.telegram.TelegramInput": "TELEGRAM_TOKEN",
}


def credentials(environ: dict[str, str]) -> dict:
    base = yaml.safe_load((PROJECT / "credentials.yml").read_text(encoding="utf-8")) or {}
    for channel, variable in OPTIONAL_CHANNELS.items():
        if environ.get(variable):
            base.setdefault(channel, None)
    return base


if __name__ == "__main__":
    output = Path(sys.argv[1])
    output.parent.mkdir(parents=True, exist_ok=True)
    chosen = credentials(dict(os.environ))
    output.write_text(yaml.safe_dump(chosen, allow_unicode=True), encoding="utf-8")
    print("channels: " + ", ".join(chosen))
