"""Action-server answers validated with validators built once, each event against its own type's schema.

Replaces ``rasa.core.actions.action.RemoteAction._validate_action_result``.

Why: Rasa validates every answer of the action server with ``jsonschema.validate(result, schema)``.
``validate()`` first checks the schema itself against the JSON-Schema meta-schema, and Rasa's event
schema is large: that check alone took ~45 % of the Rasa process's CPU per message (py-spy, 2026-11).
A validator built (and checked) once validates the same way. Each event is then checked against the
schema of its own ``event`` type only, instead of trying all ~25 schemas of the ``oneOf`` (every
alternative fixes ``event`` to a different constant, so exactly one can match: the same verdict). An
answer that fails is checked again by Rasa's own code, so errors read as before.
Measured gain: docs/benchmarks.md ("Patches, one by one").
"""

from __future__ import annotations

from typing import Any


def split_event_schemas(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """Rasa's action-answer schema without the per-event ``oneOf``, and the ``oneOf`` schemas by the
    ``event`` constant each one requires; None when the schema is not of that shape."""
    import copy

    try:
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
    except (KeyError, TypeError):
        return None
    by_event: dict[str, dict[str, Any]] = {}
    for alternative in alternatives:
        constant = alternative.get("properties", {}).get("event", {}).get("const")
        if not isinstance(constant, str) or constant in by_event:
            return None
        by_event[constant] = alternative
    outer = copy.deepcopy(schema)
    del outer["properties"]["events"]["items"]["oneOf"]
    return outer, by_event


def install(per_event: bool = True) -> None:
    """Validate action-server answers with validators built once; with ``per_event`` each event
    against its own type's schema (same verdicts as Rasa's ``jsonschema.validate``; Rasa's own errors)."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions import action as rasa_action

    rasa_own = getattr(
        rasa_action.RemoteAction._validate_action_result,
        "_yibao_original",
        rasa_action.RemoteAction._validate_action_result,
    )
    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of on every message
    split = split_event_schemas(schema) if per_event else None
    whole = validator_class(schema)
    outer = validator_class(split[0]) if split else whole
    by_event = {name: validator_class(part) for name, part in split[1].items()} if split else {}

    def valid(result: dict[str, Any]) -> bool:
        if not split:
            return whole.is_valid(result)
        if not outer.is_valid(result):
            return False
        for event in result.get("events") or []:
            validator = by_event.get(event.get("event"))
            if validator is None or not validator.is_valid(event):
                return False
        return True

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        try:
            if valid(result):
                return True
        except ValidationError:
            pass
        return rasa_own(self, result)  # Rasa's own verdict and error message

    _validate_action_result._yibao_original = rasa_own  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


def install_built_once() -> None:
    """The validator built once, every event tried against the whole ``oneOf`` as Rasa does."""
    install(per_event=False)
