"""Personal numbers (身份证号, mobile, bank card) never reach the tracker store or the logs.

Two layers: the project's channels mask a message before Rasa sees it, and the tracker store
(stores.tracker_store.MaskingSQLTrackerStore) masks every event again before writing it. The first
test goes through both (our REST channel, SQLite, Rasa at --debug log level); the second uses Rasa's
built-in `rest` channel, as `rasa shell` does, so only the store layer protects PostgreSQL.
"""
from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest

from rasa_server import RasaServer, post_json, sqlite_rows, texts
from servers import MODEL, free_port, start_action_server, stop

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

ID_NUMBER = "110101199003071234"
MOBILE = "13812345678"
CARD = "6222021234567890123"
FULLWIDTH_MOBILE = "１３９８７６５４３２１"
GROUPED_CARD = "6217 0012 3456 7890 123"
RAW_NUMBERS = [ID_NUMBER, MOBILE, CARD, "13987654321", FULLWIDTH_MOBILE, "62170012345678901", GROUPED_CARD]

# (message, expected intent)
MESSAGES = [
    (f"我身份证号{ID_NUMBER} 绑不上亲情账户", "bind_failed"),
    (f"我手机号{MOBILE}，家庭共济绑定后多久生效", "effective_time"),
    (f"医保卡{CARD}有余额为什么不能用", "balance_unusable"),
    (f"亲情账户怎么开通，我妈手机{FULLWIDTH_MOBILE}", "how_to_use"),
    (f"身份证{ID_NUMBER} 家庭共济怎么解除，卡号{GROUPED_CARD}", "unbind"),
]
PLACEHOLDERS = ["[身份证号]", "138****5678", "[银行卡号]", "139****4321"]
METADATA = {"phone": "13912345678", "note": f"身份证 {ID_NUMBER}"}


def unescape(log: str) -> str:
    """Rasa's structured debug lines are JSON with \\uXXXX escapes: undo them before searching."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), log)


def assert_no_raw_numbers(where: str, text: str) -> None:
    for number in RAW_NUMBERS + ["13912345678"]:
        assert number not in text, f"{number} found in {where}"


@pytest.fixture(scope="module")
def actions(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("actions") / "actions.log"
    process = start_action_server(port, log)
    try:
        yield port, log
    finally:
        stop(process)


def send_all(server: RasaServer, sender: str, metadata: bool = True) -> list:
    replies = []
    for text, _ in MESSAGES:
        payload = {"sender": sender, "message": text}
        if metadata:
            payload["metadata"] = METADATA
        status, reply = post_json(f"{server.base}/webhooks/rest/webhook", payload)
        assert status == 200
        assert texts(reply).strip(), f"no answer to {text!r}"
        replies.append(reply)
    return replies


def readable(rows: list) -> str:
    """All columns of all rows as text, the JSON of the data column without \\u escapes."""
    return "\n".join(
        " | ".join(str(c) for c in row[:-1]) + " | " + json.dumps(json.loads(row[-1]), ensure_ascii=False)
        for row in rows
    )


def check_rows(rows: list, classified_masked: bool = True) -> None:
    """No column of any row holds a raw number; placeholders are stored; each question was understood."""
    assert rows, "nothing was stored"
    assert_no_raw_numbers("the stored rows", readable(rows))
    assert_no_raw_numbers("the stored rows", "\n".join(" | ".join(map(str, row)) for row in rows))
    user_events = [json.loads(row[-1]) for row in rows if row[2] == "user"]
    stored_texts = [event["text"] for event in user_events]
    assert len(stored_texts) == len(MESSAGES)
    joined = "\n".join(stored_texts)
    for placeholder in PLACEHOLDERS:
        assert placeholder in joined
    if classified_masked:  # the assistant saw the masked text and still understood it
        events = [json.loads(row[-1]) for row in rows if row[2] == "slot"]
        topics = [event["value"] for event in events if event.get("name") == "topic"]
        assert topics == [intent for _, intent in MESSAGES], f"stored texts {stored_texts}"


def test_rest_channel_and_store_mask_numbers_before_sqlite_and_the_logs(shared_stack):
    server = shared_stack.server  # every channel, masking SQLite store, Rasa at --debug
    sender = uuid.uuid4().hex
    replies = send_all(server, sender)
    assert "\n· " in texts(replies[0])  # bind_failed: the first reason, then the next ones as a list
    rows = sqlite_rows(server.db, sender)
    check_rows(rows)
    metadata = [json.loads(row[-1]).get("metadata") for row in rows if row[2] == "user"]
    assert metadata[0]["phone"] == "139****5678" and metadata[0]["note"] == "身份证 [身份证号]"

    # The whole log of the shared server: no test on it may have put a raw number there either.
    log = unescape(server.log_text())
    assert "parse_data_text" in log  # the debug log did record the (masked) messages ...
    assert "我身份证号[身份证号] 绑不上亲情账户" in log  # ... as sent, masked
    assert_no_raw_numbers("Rasa's log", log)
    assert_no_raw_numbers("the action server's log", shared_stack.action_log.read_text(encoding="utf-8", errors="replace"))


# ------------------------------------------------------------------------------ PostgreSQL
def _postgres_admin():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                                      connect_timeout=3)
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 with user postgres ({error})")
    connection.autocommit = True
    return connection


@pytest.fixture
def postgres_db():
    admin = _postgres_admin()
    name = f"yibao_privacy_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def postgres_rows(database: str, sender: str) -> list:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, sender_id, type_name, intent_name, action_name, data FROM events "
                           "WHERE sender_id = %s ORDER BY id", (sender,))
            return cursor.fetchall()


def test_store_masks_numbers_in_postgresql_even_behind_rasas_own_rest_channel(tmp_path, actions, postgres_db):
    """Rasa's built-in `rest` channel (what `rasa shell` uses) does not mask: the store still does."""
    action_port, _ = actions
    store = {"type": "stores.tracker_store.MaskingSQLTrackerStore", "dialect": "postgresql",
             "url": "127.0.0.1", "port": 5432, "db": postgres_db, "username": "postgres"}
    server = RasaServer(tmp_path, action_port, tracker_store=store, credentials={"rest": None}).start()
    try:
        sender = uuid.uuid4().hex
        send_all(server, sender, metadata=True)
        rows = postgres_rows(postgres_db, sender)
    finally:
        server.stop()
    check_rows(rows, classified_masked=False)  # here the NLU saw the raw text; only the store masked


# ------------------------------------------------------------------------------ the store itself
def _tracker_with_numbers(sender: str):
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.slots import TextSlot
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker(sender, slots=[TextSlot("relation", mappings=[{"type": "custom"}])])
    tracker.update(UserUttered(
        f"身份证{ID_NUMBER} 手机{MOBILE}",
        intent={"name": "bind_failed", "confidence": 0.9},
        entities=[{"entity": "phone", "value": MOBILE, "start": 0, "end": 11}],
        parse_data={"text": f"身份证{ID_NUMBER} 手机{MOBILE}", "intent": {"name": "bind_failed", "confidence": 0.9}},
        metadata={"card": CARD},
    ))
    tracker.update(ActionExecuted("action_answer"))
    tracker.update(SlotSet("relation", f"卡号{CARD}"))
    tracker.update(BotUttered(f"您说的是{MOBILE}吗", metadata={"echo": ID_NUMBER}))
    return tracker


class CollectingBroker:
    def __init__(self) -> None:
        self.published = []

    def publish(self, event) -> None:
        self.published.append(event)


def test_store_masks_every_event_field_and_what_it_publishes(tmp_path):
    from stores.tracker_store import MaskingSQLTrackerStore

    broker = CollectingBroker()
    store = MaskingSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "t.db"), event_broker=broker)
    sender = "unit-sender"
    loop = asyncio.new_event_loop()
    loop.run_until_complete(store.save(_tracker_with_numbers(sender)))
    rows = sqlite_rows(tmp_path / "t.db", sender)
    assert [row[2] for row in rows] == ["user", "action", "slot", "bot"]
    stored = readable(rows)
    assert_no_raw_numbers("stored rows", stored)
    assert "[身份证号]" in stored and "138****5678" in stored and "[银行卡号]" in stored
    assert rows[0][3] == "bind_failed" and rows[1][4] == "action_answer"
    assert_no_raw_numbers("published events", json.dumps(broker.published, ensure_ascii=False))
    assert len(broker.published) == 4

    # Saving the same events again writes nothing twice.
    loop.run_until_complete(store.save(_tracker_with_numbers(sender)))
    assert len(sqlite_rows(tmp_path / "t.db", sender)) == 4
    loop.close()
