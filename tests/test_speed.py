"""The Rasa speed fixes (rasa_ext/, stores/tracker_store.py) change cost, not behaviour.

Each fix is checked against Rasa's own code path on the same input: the action-result validator
against ``jsonschema.validate``, the remembered event types against the subclass walk, the sequential
graph runner against dask, and the tracker store's reads and writes against ``SQLTrackerStore``
reading the same SQLite file.
"""
from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

import rasa_ext  # noqa: E402
from rasa_ext.graph_runner import graph_run_order  # noqa: E402
from stores.tracker_store import MaskingSQLTrackerStore  # noqa: E402

from rasa.core.actions.action import RemoteAction  # noqa: E402
from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode  # noqa: E402
from rasa.engine.exceptions import GraphComponentException  # noqa: E402
from rasa.engine.runner.dask import DaskGraphRunner  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import (ActionExecuted, BotUttered, Event, SessionStarted, SlotSet,  # noqa: E402
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

rasa_ext.install()

# ---------------------------------------------------------------- action results

VALID_RESULTS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "region", "value": "杭州"}],
     "responses": [{"text": "亲情账户绑定后一般当天生效。", "buttons": [{"title": "有帮助", "payload": "/feedback"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"text": "好"}]},
    {},
]
INVALID_RESULTS = [
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},  # a SlotSet without its name
    {"events": [{"name": "region"}]},  # no event type
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "name": "region", "value": "杭州", "timestamp": "yesterday"}]},
    {"events": [{"event": "slot", "name": "region", "value": "杭州"}, "not an event"]},
    {"events": [{"event": "user", "text": "你好", "parse_data": "not an object"}]},
    {"responses": "text"},
]


def rasa_verdict(result: Dict[str, Any]) -> bool:
    from jsonschema import ValidationError, validate

    try:
        validate(result, RemoteAction.action_response_format_spec())
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("result", VALID_RESULTS + INVALID_RESULTS)
def test_action_results_are_judged_as_rasa_judges_them(result):
    action = RemoteAction("action_answer", None)
    if rasa_verdict(result):
        assert action._validate_action_result(result) is True
    else:
        from jsonschema import ValidationError

        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(result)


def test_the_examples_cover_both_verdicts():
    assert all(rasa_verdict(result) for result in VALID_RESULTS)
    assert not any(rasa_verdict(result) for result in INVALID_RESULTS)


# ---------------------------------------------------------------- event types

def test_event_types_resolve_as_before():
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("slot") is SlotSet  # remembered
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("session_started") is SessionStarted
    assert Event.resolve_by_type("no_such_event", default=BotUttered) is BotUttered
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    assert Event.from_parameters({"event": "slot", "name": "region", "value": "上海"}) == SlotSet("region", "上海")


# ---------------------------------------------------------------- graph runs

def test_graph_run_order_puts_needs_first_and_skips_what_is_not_needed():
    nodes = {"a": ["__input__"], "b": ["a"], "c": ["a", "b"], "unused": ["a"]}
    assert graph_run_order(nodes, ["c"], ["__input__"]) == ["a", "b", "c"]
    assert graph_run_order(nodes, ["b", "c"], ["__input__"]) == ["a", "b", "c"]
    assert graph_run_order(nodes, ["__input__"], ["__input__"]) == []
    assert graph_run_order(nodes, ["c"], []) is None  # "__input__" is neither a node nor given


class AddComponent(GraphComponent):
    """Adds its configured number to every number it is given."""

    def __init__(self, number: int) -> None:
        self.number = number

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: Any, resource: Any,
               execution_context: ExecutionContext) -> "AddComponent":
        return cls(config["number"])

    def add(self, first: int, second: int = 0) -> int:
        if first < 0:
            raise ValueError("negative input")
        return first + second + self.number


def node(needs: Dict[str, str], number: int, is_target: bool = False) -> SchemaNode:
    return SchemaNode(needs=needs, uses=AddComponent, constructor_name="create", fn="add",
                      config={"number": number}, is_target=is_target)


@pytest.fixture
def runner(tmp_path):
    schema = GraphSchema({
        "one": node({"first": "__number__"}, 1),
        "ten": node({"first": "one"}, 10),
        "sum": node({"first": "one", "second": "ten"}, 100, is_target=True),
        "other": node({"first": "__number__"}, 1000, is_target=True),
    })
    return DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "test"))


def test_the_sequential_runner_answers_as_dask(runner):
    dask_run = DaskGraphRunner.run._yibao_original  # Rasa's own
    for inputs, targets in [({"__number__": 1}, ["sum"]), ({"__number__": 5}, None),
                            ({"__number__": 2}, ["ten", "sum"]), ({"__number__": 3}, ["__number__"])]:
        assert runner.run(inputs, targets) == dask_run(runner, inputs, targets)
    assert runner.run({"__number__": 1}, ["sum"]) == {"sum": 2 + 12 + 100}


def test_the_sequential_runner_fails_as_dask(runner):
    dask_run = DaskGraphRunner.run._yibao_original
    with pytest.raises(GraphComponentException):
        dask_run(runner, {"__number__": -1}, ["sum"])
    with pytest.raises(GraphComponentException):
        runner.run({"__number__": -1}, ["sum"])


# ---------------------------------------------------------------- tracker store

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [ask]
slots:
  region:
    type: text
    mappings: [{type: custom}]
""")


def turn(text: str, region: str) -> list:
    return [UserUttered(text, {"name": "ask", "confidence": 1.0}), ActionExecuted("action_answer"),
            SlotSet("region", region), BotUttered(f"{region}：可以"), ActionExecuted("action_listen")]


def rasa_store(db: Path) -> SQLTrackerStore:
    return SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))


def row_count(db: Path, sender: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]


@pytest.mark.parametrize("fast", [True, False], ids=["patched", "switched-off"])
def test_saved_turns_read_back_as_rasa_reads_them(tmp_path, monkeypatch, fast):
    # Switched off (YIBAO_PATCHES_OFF=sql_tracker_store, for make bench-compare) the store reads and writes
    # with Rasa's own code: the same rows either way.
    import rasa_ext.sql_tracker_store

    monkeypatch.setattr(rasa_ext.sql_tracker_store, "ENABLED", fast)
    db = tmp_path / "tracker.db"
    store = MaskingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    assert store.fast is fast

    async def conversation() -> DialogueStateTracker:
        tracker = await store.get_or_create_tracker("u1")
        for event in turn("杭州能用吗", "杭州"):
            tracker.update(event)
        await store.save(tracker)
        tracker = await store.retrieve("u1")
        for event in turn("那上海呢", "上海"):
            tracker.update(event)
        await store.save(tracker)
        await store.save(tracker)  # nothing new: nothing written twice
        return tracker

    tracker = asyncio.run(conversation())
    assert row_count(db, "u1") == len(tracker.events) == 11
    ours = asyncio.run(store.retrieve("u1"))
    theirs = asyncio.run(rasa_store(db).retrieve("u1"))
    assert list(ours.events) == list(theirs.events) == list(tracker.events)
    assert ours.get_slot("region") == "上海"
    assert asyncio.run(store.retrieve("nobody")) is None


def test_a_tracker_from_elsewhere_is_counted_before_it_is_saved(tmp_path):
    db = tmp_path / "tracker.db"
    store = MaskingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    first = DialogueStateTracker.from_events("u2", [ActionExecuted("action_listen")] + turn("杭州", "杭州"),
                                             DOMAIN.slots)
    asyncio.run(store.save(first))
    # Another replica (or the HTTP API) builds its own tracker object with the same events and one turn more.
    second = DialogueStateTracker.from_events("u2", list(first.events) + turn("上海", "上海"), DOMAIN.slots)
    asyncio.run(store.save(second))
    assert row_count(db, "u2") == 11
    assert list(asyncio.run(rasa_store(db).retrieve("u2")).events) == list(second.events)


def test_only_the_latest_session_is_read_as_rasa_reads_it(tmp_path):
    db = tmp_path / "tracker.db"
    store = MaskingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    old = [ActionExecuted("action_listen")] + turn("杭州", "杭州")
    new = [ActionExecuted("action_session_start"), SessionStarted(), SlotSet("region", "杭州"),
           ActionExecuted("action_listen")] + turn("北京", "北京")
    tracker = DialogueStateTracker.from_events("u3", old, DOMAIN.slots)
    asyncio.run(store.save(tracker))
    tracker = asyncio.run(store.retrieve("u3"))
    for event in new:
        tracker.update(event)
    asyncio.run(store.save(tracker))

    ours = asyncio.run(store.retrieve("u3"))
    theirs = asyncio.run(rasa_store(db).retrieve("u3"))
    assert list(ours.events) == list(theirs.events)
    assert SessionStarted() in list(ours.events) and len(ours.events) < len(old) + len(new)
    assert ours.get_slot("region") == "北京"
    assert row_count(db, "u3") == len(old) + len(new)


def test_two_processes_on_one_file_see_each_others_turns(tmp_path):
    """Two store objects on one file, as two Rasa workers would use it."""
    db = tmp_path / "tracker.db"
    first = MaskingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    second = MaskingSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))

    async def alternate() -> None:
        for number, store in enumerate([first, second, first, second]):
            tracker = await store.get_or_create_tracker("u4")
            for event in turn(f"第{number}句", f"地区{number}"):
                tracker.update(event)
            await store.save(tracker)

    asyncio.run(alternate())
    assert row_count(db, "u4") == 1 + 4 * 5
    assert asyncio.run(second.retrieve("u4")).get_slot("region") == "地区3"


