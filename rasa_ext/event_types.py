"""Event classes looked up by type name once.

Replaces ``rasa.shared.core.events.Event.resolve_by_type``.

Why: every stored event is turned back into an object through ``Event.resolve_by_type``, which walks
all subclasses of ``Event`` for each one (~5 % of the CPU per message, py-spy 2026-11): the answer per
type name is remembered here. Measured gain: docs/benchmarks.md ("Patches, one by one").
"""

from __future__ import annotations


def install() -> None:
    """``Event.resolve_by_type`` answers each type name once from the subclasses of ``Event``."""
    from rasa.shared.core import events

    if getattr(events.Event.resolve_by_type, "_yibao_cached", False):
        return
    original = events.Event.resolve_by_type
    known: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: type | None = None) -> type | None:
        found = known.get(type_name)
        if found is None:
            found = original(type_name, default)  # raises or answers as Rasa does
            if found is not None and found is not default:
                known[type_name] = found
        return found

    resolve_by_type._yibao_cached = True  # type: ignore[attr-defined]
    events.Event.resolve_by_type = staticmethod(resolve_by_type)
