"""A tracker store that cannot be imported or created stops the server.

Replaces ``rasa.core.tracker_store._load_from_module_name_in_endpoint_config`` (how Rasa builds a
tracker store named by its module path, such as ``stores.tracker_store.MaskingSQLTrackerStore``).

Why: Rasa 3.6 catches ``ImportError`` and ``AttributeError`` there (a typo in ``type``, a module not
on PYTHONPATH, a driver the store imports that is not installed) and carries on with an in-memory
store after one warning. Every conversation would then be lost at the next restart, replicas would not
share conversations, and nothing would mask personal numbers in storage — with a server that looks
healthy. Here the same failure raises ``TrackerStoreNotCreated``, whose message names the
``tracker_store`` setting of endpoints.yml to fix, so ``rasa run`` stops at start. Errors other than
these two already stop Rasa and are left as they are. Gain: correctness (tests/test_faults.py).
"""

from __future__ import annotations

from typing import Any

import rasa.core.tracker_store as rasa_tracker_store
import rasa.shared.utils.common
from rasa.shared.exceptions import RasaException


class TrackerStoreNotCreated(RasaException):
    """The tracker store named in endpoints.yml cannot be imported or created."""


def _load_from_module_name_in_endpoint_config(domain: Any, store: Any, event_broker: Any | None = None) -> Any:
    try:
        store_class = rasa.shared.utils.common.class_from_module_path(store.type)
        return store_class(host=store.url, domain=domain, event_broker=event_broker, **store.kwargs)
    except (AttributeError, ImportError) as error:
        raise TrackerStoreNotCreated(
            f"无法创建对话存储：endpoints.yml 中 tracker_store 的 type '{store.type}' 无法导入或创建（{error}）。"
            f"请修改 tracker_store 的 type（及 PYTHONPATH）；为免对话丢失，不改用内存存储。\n"
            f"Cannot create the tracker store: type '{store.type}' under tracker_store in endpoints.yml "
            f"cannot be imported or created ({type(error).__name__}: {error}). Fix `type` under tracker_store "
            f"(and PYTHONPATH); the server does not fall back to an in-memory store, which would lose "
            f"every conversation."
        ) from error


def install() -> None:
    rasa_tracker_store._load_from_module_name_in_endpoint_config = _load_from_module_name_in_endpoint_config
