"""Rasa's NLU and policy graphs run in a precomputed order instead of through dask.

Replaces ``rasa.engine.runner.dask.DaskGraphRunner.run``.

Why: Rasa runs its graphs with ``dask.get``, which rebuilds and schedules a task graph on every call
(~6 % of the CPU per message on top of the components themselves, py-spy 2026-11). The graphs are
small and run in one thread anyway; here each target list's order is worked out once and the nodes
are called in that order, with the same inputs, outputs and errors.
Measured gain: docs/benchmarks.md ("Patches, one by one").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def graph_run_order(nodes: dict[str, Sequence[str]], targets: Sequence[str], inputs: Sequence[str]) -> list[str] | None:
    """The nodes needed for ``targets`` (``nodes``: name -> names it needs), each after what it needs;
    inputs are given, not run. None when a needed name is neither a node nor an input."""
    order: list[str] = []
    done = set(inputs)
    for target in targets:
        stack: list[tuple[str, bool]] = [(target, False)]
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


def install() -> None:
    """``DaskGraphRunner.run`` without dask: the same nodes called in dependency order."""
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner.run, "_yibao_sequential", False):
        return
    original = DaskGraphRunner.run

    def run(self: Any, inputs: dict[str, Any] | None = None, targets: list[str] | None = None) -> dict[str, Any]:
        run_targets = list(targets) if targets else list(self._graph_schema.target_names)
        inputs = inputs or {}
        if any(name in self._instantiated_nodes for name in inputs):
            return original(self, inputs, targets)  # Rasa's own error for the clash
        cache = self.__dict__.setdefault("_yibao_orders", {})
        key = (tuple(run_targets), tuple(sorted(inputs)))
        if key not in cache:
            needs: dict[str, Sequence[str]] = {
                name: list(node.needs.values()) for name, node in self._graph_schema.nodes.items()
            }
            cache[key] = graph_run_order(needs, run_targets, list(inputs))
        order = cache[key]
        if order is None:
            return original(self, inputs, targets)
        results: dict[str, Any] = {name: (name, value) for name, value in inputs.items()}
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
