"""Fixes for Rasa 3.6's cost per message, found by profiling this assistant under load (py-spy on
`rasa run`; figures in docs/benchmarks.md).

1. Rasa validates every answer of the action server with ``jsonschema.validate(result, schema)``
   (``RemoteAction._validate_action_result``). ``validate()`` first checks the schema itself against
   the JSON-Schema meta-schema, and Rasa's event schema is large: that check alone took ~45 % of the
   Rasa process's CPU per message. A validator built (and checked) once validates the same way.
2. SQLite tracker store: SQLAlchemy 1.4 gives a file database a ``NullPool`` (a new connection, and
   schema read, for every retrieve and every save) and SQLite's default journal fsyncs several times
   per commit, on Rasa's event loop. One kept connection per thread, ``journal_mode=WAL`` and
   ``synchronous=NORMAL`` (no fsync per commit: after a power cut the last commits may be lost, the
   file is never corrupted; a crash of Rasa itself loses nothing).
3. Every stored event is turned back into an object through ``Event.resolve_by_type``, which walks all
   subclasses of ``Event`` for each one (~5 % of the CPU per message): the answer per type name is
   remembered here.
4. Rasa runs its NLU and policy graphs with ``dask.get``, which rebuilds and schedules a task graph
   on every call (~6 % of the CPU per message on top of the components themselves). The graphs are
   small and run in one thread anyway; here each target list's order is worked out once and the nodes
   are called in that order, with the same inputs, outputs and errors.
5. Even built once, the validator of fix 1 cost ~1.2 ms per answer (~8 % of the CPU per message):
   each event is tried against all ~25 event schemas of a ``oneOf``. Every one of them fixes
   ``event`` to a different constant, so exactly one can match an event: each event is checked
   against the schema of its own type only (the same verdict). An answer that fails is checked
   again by Rasa's own code, so errors read as before. (``fastjsonschema`` was measured too: slower.)
6. DIET builds "fake" zero features for every message it classifies by deep-copying the message's
   real features, sparse matrices included (~10 % of the CPU per message), and then replaces the
   copied matrix with an empty one: the empty features are built directly here.

The tracker store's own share (reading and writing a conversation) is cut in
``stores.tracker_store`` (Core SQL, no count query per save).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple


def split_event_schemas(schema: Dict[str, Any]) -> Optional[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
    """Rasa's action-answer schema without the per-event ``oneOf``, and the ``oneOf`` schemas by the
    ``event`` constant each one requires; None when the schema is not of that shape."""
    import copy

    try:
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
    except (KeyError, TypeError):
        return None
    by_event: Dict[str, Dict[str, Any]] = {}
    for alternative in alternatives:
        constant = alternative.get("properties", {}).get("event", {}).get("const")
        if not isinstance(constant, str) or constant in by_event:
            return None
        by_event[constant] = alternative
    outer = copy.deepcopy(schema)
    del outer["properties"]["events"]["items"]["oneOf"]
    return outer, by_event


def cached_action_result_validation() -> None:
    """Validate action-server answers with validators built once, each event against its own type's
    schema (same verdicts as Rasa's ``jsonschema.validate``; Rasa's own errors)."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions import action as rasa_action

    if getattr(rasa_action.RemoteAction._validate_action_result, "_yibao_cached", False):
        return
    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of on every message
    split = split_event_schemas(schema)
    whole = validator_class(schema)
    outer = validator_class(split[0]) if split else whole
    per_event = {name: validator_class(part) for name, part in split[1].items()} if split else {}
    original = rasa_action.RemoteAction._validate_action_result

    def valid(result: Dict[str, Any]) -> bool:
        if not split:
            return whole.is_valid(result)
        if not outer.is_valid(result):
            return False
        for event in result.get("events") or []:
            validator = per_event.get(event.get("event"))
            if validator is None or not validator.is_valid(event):
                return False
        return True

    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        try:
            if valid(result):
                return True
        except ValidationError:
            pass
        return original(self, result)  # Rasa's own verdict and error message

    _validate_action_result._yibao_cached = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


def direct_fake_features() -> None:
    """DIET's zero features for absent attributes, built without deep-copying the real ones."""
    import copy

    import numpy as np
    import scipy.sparse
    from rasa.shared.nlu.training_data.features import Features
    from rasa.utils.tensorflow import model_data_utils

    if getattr(model_data_utils._create_fake_features, "_yibao_direct", False):
        return
    original = model_data_utils._create_fake_features

    def _create_fake_features(all_features: List[List[List[Any]]]) -> List[Any]:
        example_features = next(iter([
            list_of_features
            for list_of_list_of_features in all_features
            for list_of_features in list_of_list_of_features
            if list_of_features is not None
        ]))
        fake_features = []
        for features in example_features:
            width, dtype = features.features.shape[-1], features.features.dtype
            # The very calls of Rasa's version (its sparse one leaves the dtype at float64).
            empty = (np.zeros((0, width), dtype) if features.is_dense()
                     else scipy.sparse.coo_matrix((0, width), dtype))
            fake_features.append(Features(empty, features.type, features.attribute, copy.deepcopy(features.origin)))
        return fake_features

    _create_fake_features._yibao_direct = True  # type: ignore[attr-defined]
    _create_fake_features._yibao_original = original  # type: ignore[attr-defined]
    model_data_utils._create_fake_features = _create_fake_features


def tune_sqlite_engine(store: Any) -> None:
    """Give a SQLTrackerStore on SQLite one kept connection per thread, WAL and synchronous=NORMAL."""
    import sqlalchemy as sa
    from sqlalchemy import event

    if store.engine.dialect.name != "sqlite":
        return
    url = store.engine.url
    store.engine.dispose()
    engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    store.engine = engine
    store.sessionmaker = sa.orm.session.sessionmaker(bind=engine)


def remembered_event_types() -> None:
    """``Event.resolve_by_type`` answers each type name once from the subclasses of ``Event``."""
    from rasa.shared.core import events

    if getattr(events.Event.resolve_by_type, "_yibao_cached", False):
        return
    original = events.Event.resolve_by_type
    known: Dict[str, type] = {}

    def resolve_by_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
        found = known.get(type_name)
        if found is None:
            found = original(type_name, default)  # raises or answers as Rasa does
            if found is not None and found is not default:
                known[type_name] = found
        return found

    resolve_by_type._yibao_cached = True  # type: ignore[attr-defined]
    events.Event.resolve_by_type = staticmethod(resolve_by_type)


def graph_run_order(nodes: Dict[str, Sequence[str]], targets: Sequence[str],
                    inputs: Sequence[str]) -> Optional[List[str]]:
    """The nodes needed for ``targets`` (``nodes``: name -> names it needs), each after what it needs;
    inputs are given, not run. None when a needed name is neither a node nor an input."""
    order: List[str] = []
    done = set(inputs)
    for target in targets:
        stack: List[Tuple[str, bool]] = [(target, False)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if name not in nodes:
                return None
            if expanded:
                done.add(name)
                order.append(name)
                continue
            stack.append((name, True))
            stack.extend((need, False) for need in reversed(list(nodes[name])) if need not in done)
    return order


def sequential_graph_runs() -> None:
    """``DaskGraphRunner.run`` without dask: the same nodes called in dependency order."""
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner.run, "_yibao_sequential", False):
        return
    original = DaskGraphRunner.run

    def run(self: Any, inputs: Optional[Dict[str, Any]] = None,
            targets: Optional[List[str]] = None) -> Dict[str, Any]:
        run_targets = list(targets) if targets else list(self._graph_schema.target_names)
        inputs = inputs or {}
        if any(name in self._instantiated_nodes for name in inputs):
            return original(self, inputs, targets)  # Rasa's own error for the clash
        cache = self.__dict__.setdefault("_yibao_orders", {})
        key = (tuple(run_targets), tuple(sorted(inputs)))
        if key not in cache:
            needs = {name: list(node.needs.values()) for name, node in self._graph_schema.nodes.items()}
            cache[key] = graph_run_order(needs, run_targets, list(inputs))
        order = cache[key]
        if order is None:
            return original(self, inputs, targets)
        results: Dict[str, Any] = {name: (name, value) for name, value in inputs.items()}
        schema_nodes = self._graph_schema.nodes
        try:
            for name in order:
                node = self._instantiated_nodes[name]
                results[name] = node(*(results[need] for need in schema_nodes[name].needs.values()))
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(results[target] for target in run_targets)

    run._yibao_sequential = True  # type: ignore[attr-defined]
    run._yibao_original = original  # type: ignore[attr-defined]
    DaskGraphRunner.run = run

