"""Persistence of the embedded default: `make run` keeps conversations in a SQLite file.

A real `rasa run` (REST channel) with the tracker store of endpoints.yml on a temporary SQLite file,
and a real action server. The user asks a question, Rasa is stopped (SIGTERM) and started again on
the same file, and the user's next message is answered from the slots stored before the restart.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sqlite3
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from deploy.cluster import (MODEL, base_env, free_port, start_action_server, start_rasa, stop,  # noqa: E402
                            wait_http, wait_rasa)

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")


def say(port: int, sender: str, text: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                                     data=json.dumps({"sender": sender, "message": text}).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return "\n".join(message.get("text", "") for message in json.load(response))


def stored_slots(db: Path, sender: str) -> dict:
    """The slot values written to the SQLite file, read with plain sqlite3 (no Rasa)."""
    slots = {}
    with sqlite3.connect(db) as connection:
        for (data,) in connection.execute("SELECT data FROM events WHERE sender_id = ? AND type_name = 'slot' "
                                          "ORDER BY id", (sender,)):
            event = json.loads(data)
            slots[event["name"]] = event["value"]
    return slots


def test_slots_and_topic_survive_a_restart_of_rasa(tmp_path):
    # A private copy of the model: a retrain elsewhere cannot swap it between the two starts.
    model = tmp_path / "yibao.tar.gz"
    shutil.copyfile(MODEL, model)
    db = tmp_path / "tracker.db"

    # The tracker store of endpoints.yml (type and options) on a temporary file.
    default = yaml.safe_load((PROJECT / "endpoints.yml").read_text(encoding="utf-8"))
    store = dict(default["tracker_store"])
    assert str(store.get("dialect", "sqlite")).startswith("sqlite"), "the embedded default needs no server"
    store["db"] = str(db)
    action_port = free_port()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({"action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"},
                                         "tracker_store": store}, allow_unicode=True), encoding="utf-8")

    actions = start_action_server(action_port, tmp_path / "actions.log")
    rasa = None
    sender = "persist-" + uuid.uuid4().hex[:12]
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", actions, timeout=120)

        port = free_port()
        rasa = start_rasa(port, endpoints, tmp_path / "rasa-1.log", base_env(), model=model)
        wait_rasa(port, rasa)
        first = say(port, sender, "亲情账户绑定后多久生效")
        assert "哪天绑定" in first, first

        stop(rasa, signal.SIGTERM)
        assert rasa.returncode != -signal.SIGKILL, "Rasa did not stop on SIGTERM"
        before = stored_slots(db, sender)
        assert before.get("topic") == "effective_time" and before.get("account_type") == "亲情账户", before

        port = free_port()
        rasa = start_rasa(port, endpoints, tmp_path / "rasa-2.log", base_env(), model=model)
        wait_rasa(port, rasa)
        second = say(port, sender, "我是10月16号绑的")
        # Only the stored account type and topic say which rule applies: 16th -> next month.
        assert "11月1日" in second, second
        stop(rasa, signal.SIGTERM)
    except BaseException:
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stop(rasa)
        stop(actions)

    # Read back through Rasa's own tracker store class, as the next `rasa run` would.
    from rasa.core.tracker_store import TrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import read_endpoint_config

    tracker_store = TrackerStore.create(read_endpoint_config(str(endpoints), "tracker_store"),
                                        Domain.load(str(PROJECT / "domain.yml")))
    tracker = asyncio.new_event_loop().run_until_complete(tracker_store.retrieve(sender))
    assert tracker is not None
    assert tracker.get_slot("topic") == "effective_time"
    assert tracker.get_slot("account_type") == "亲情账户"
    assert str(tracker.get_slot("bind_date")).endswith("-10-16")
    user_texts = [event.text for event in tracker.events if event.type_name == "user"]
    assert user_texts == ["亲情账户绑定后多久生效", "我是10月16号绑的"]
