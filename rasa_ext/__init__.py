"""Every patch of Rasa, Rasa SDK, Sanic and aiogram internals, one module per concern.

Nothing here changes Rasa when it is imported: ``install()`` does, and the one launcher
``python -m rasa_ext <rasa command>`` (used by ``make run``, the tests, the benchmarks and the scale
profile) calls it after the version guard (``rasa_ext.versions``). Each module's docstring names the
symbol it replaces, why, and its measured gain (docs/benchmarks.md, "Patches, one by one").

``YIBAO_PATCHES_OFF`` (comma-separated names of PATCHES) leaves patches out, to measure each one with
``make bench-compare``; the correctness patches cannot be left out.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable

logger = logging.getLogger(__name__)

# name -> "module:function" that applies it, in the order they are applied (a later one may
# refine an earlier one: per_event_validation replaces the validator of action_validation).
PATCHES: dict[str, str] = {
    "action_apology": "rasa_ext.action_apology:install",
    "strict_tracker_store": "rasa_ext.strict_tracker_store:install",
    "action_validation": "rasa_ext.action_validation:install_built_once",
    "per_event_validation": "rasa_ext.action_validation:install",
    "event_types": "rasa_ext.event_types:install",
    "graph_runner": "rasa_ext.graph_runner:install",
    "sql_tracker_store": "rasa_ext.sql_tracker_store:install",
    "model_load": "rasa_ext.model_load:install",
}
# Without these the assistant is wrong, not just slower.
REQUIRED = {"action_apology", "strict_tracker_store"}
OFF_VARIABLE = "YIBAO_PATCHES_OFF"

_installed: list[str] = []


def switched_off(environ: dict[str, str] | None = None) -> list[str]:
    raw = (environ if environ is not None else os.environ).get(OFF_VARIABLE, "")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in PATCHES]
    if unknown:
        raise SystemExit(f"{OFF_VARIABLE}: unknown patch(es) {', '.join(unknown)}; known: {', '.join(PATCHES)}")
    refused = [name for name in names if name in REQUIRED]
    if refused:
        raise SystemExit(f"{OFF_VARIABLE}: {', '.join(refused)} cannot be switched off (correctness, not speed)")
    return names


def install(skip: Iterable[str] | None = None) -> list[str]:
    """Checks the versions, then applies every patch not in ``skip`` (default: YIBAO_PATCHES_OFF).
    Idempotent; returns the names applied."""
    from rasa_ext.versions import check_versions

    check_versions()
    left_out = set(switched_off() if skip is None else skip)
    for name, module in PATCHES.items():
        if name in left_out or name in _installed:
            continue
        module_name, _, function = module.partition(":")
        getattr(importlib.import_module(module_name), function)()
        _installed.append(name)
    if left_out:
        logger.warning("Rasa patches left out (%s): %s", OFF_VARIABLE, ", ".join(sorted(left_out)))
    return list(_installed)
