"""Checks, before Rasa starts, that the stores configured in endpoints.yml can be used.

    python scripts/preflight.py [--endpoints endpoints.yml] [--timeout 5]

* tracker_store: SQLite - the folder of ``db`` is writable; PostgreSQL and other SQL dialects - the
  port answers and a login with the configured db/username/password works; redis / mongod - the port
  answers; a custom ``type`` - its module can be imported (Rasa would otherwise silently keep
  conversations in memory only).
* lock_store: redis - the port answers.

Exit 0 when everything is usable; exit 2 with a message in Chinese and English that names the
endpoints.yml setting to fix (passwords are never printed). Takes well under a second when the
stores answer, at most ``--timeout`` seconds per store when they do not. No Rasa import.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

import yaml  # noqa: E402

from stores.connectivity import Unreachable, expand_env, problems  # noqa: E402

EXIT_PROBLEM = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", default="endpoints.yml")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each store")
    args = parser.parse_args(argv)

    path = Path(args.endpoints)
    try:
        endpoints = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        print(f"预检失败：无法读取 {path}（{error.strerror}）\npreflight: cannot read {path} ({error.strerror})",
              file=sys.stderr)
        return EXIT_PROBLEM
    except yaml.YAMLError as error:
        print(f"预检失败：{path} 不是有效的 YAML\npreflight: {path} is not valid YAML: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    if not isinstance(endpoints, dict):
        print(f"预检失败：{path} 必须是键值映射\npreflight: {path} must be a mapping", file=sys.stderr)
        return EXIT_PROBLEM

    try:
        found = problems(expand_env(endpoints), timeout=args.timeout)
    except Unreachable as error:
        found = [error]
    for problem in found:
        text = str(problem) if path.name == "endpoints.yml" else str(problem).replace("endpoints.yml", path.name)
        print(f"预检失败 / preflight failed:\n{text}", file=sys.stderr)
    if found:
        return EXIT_PROBLEM
    print(f"preflight: tracker_store and lock_store of {path} are usable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
