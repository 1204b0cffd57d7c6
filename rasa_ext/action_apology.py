"""An apology instead of silence when the action server is down or slow.

Replaces ``rasa.core.actions.action.action_for_name_or_text`` (the factory the processor asks for the
action a policy predicted) by a wrapper that turns every plain ``RemoteAction`` into an
``ApologisingRemoteAction``.

Why: Rasa 3.6's processor logs the error of a custom action and sends nothing, so the user would see
no answer at all. Here a custom action runs with a time limit (``ACTION_SERVER_TIMEOUT`` seconds,
default 10, or ``timeout:`` under ``action_endpoint`` in endpoints.yml) and, when the action server
cannot be reached, answers an error or is too slow, the user gets ``channel_apology`` of
data/texts.yml (with 12393). The turn is recorded as usual, so the conversation goes on normally once
the action server is back. Gain: correctness, not speed (tests/test_faults.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import aiohttp
import rasa.core.actions.action as rasa_action
import rasa.utils.endpoints
from rasa.shared.core.events import BotUttered
from rasa.shared.exceptions import RasaException

from yibao.texts import load_texts

logger = logging.getLogger(__name__)

DEFAULT_ACTION_TIMEOUT = 10.0
APOLOGY_METADATA = {"yibao_apology": True}


def apology_text() -> str:
    return load_texts()["channel_apology"]


def action_timeout(endpoint: Any) -> float:
    """Seconds a custom action may take: endpoints.yml ``timeout``, else ACTION_SERVER_TIMEOUT, else 10."""
    configured = None
    if endpoint is not None:
        configured = (getattr(endpoint, "kwargs", None) or {}).get("timeout")
    if configured is None:
        configured = os.environ.get("ACTION_SERVER_TIMEOUT")
    try:
        value = float(configured) if configured not in (None, "") else DEFAULT_ACTION_TIMEOUT
    except (TypeError, ValueError):
        logger.warning(
            "ACTION_SERVER_TIMEOUT / action_endpoint.timeout %r is not a number; using %s s",
            configured,
            DEFAULT_ACTION_TIMEOUT,
        )
        value = DEFAULT_ACTION_TIMEOUT
    return value if value > 0 else DEFAULT_ACTION_TIMEOUT


class ApologisingRemoteAction(rasa_action.RemoteAction):
    """A custom action that, when the action server fails, apologises instead of staying silent."""

    async def run(self, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
        timeout = action_timeout(self.action_endpoint)
        try:
            return await asyncio.wait_for(super().run(output_channel, nlg, tracker, domain), timeout)
        except rasa_action.ActionExecutionRejection:
            raise  # a deliberate rejection by the action (e.g. a form), not a fault
        except TimeoutError:
            reason = f"no answer within {timeout:g} s (ACTION_SERVER_TIMEOUT)"
        except (RasaException, aiohttp.ClientError, rasa.utils.endpoints.ClientResponseError, OSError) as error:
            reason = f"{type(error).__name__}: {error}"
        logger.error("Custom action '%s' failed (%s); the user gets the apology instead.", self.name(), reason)
        return [BotUttered(apology_text(), metadata=dict(APOLOGY_METADATA))]


_rasa_action_for_name_or_text = rasa_action.action_for_name_or_text


def _action_for_name_or_text(action_name_or_text: str, domain: Any, action_endpoint: Any) -> Any:
    action = _rasa_action_for_name_or_text(action_name_or_text, domain, action_endpoint)
    if type(action) is rasa_action.RemoteAction:
        return ApologisingRemoteAction(action.name(), action.action_endpoint)
    return action


def install() -> None:
    """Makes every custom action the processor runs an ``ApologisingRemoteAction`` (idempotent)."""
    rasa_action.action_for_name_or_text = _action_for_name_or_text
