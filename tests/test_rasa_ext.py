"""The Rasa patches are fenced: nothing changes Rasa on import, the launcher installs them after a
version guard, and a tracker store that cannot be created stops Rasa instead of falling back."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

import rasa_ext  # noqa: E402
from rasa_ext import versions  # noqa: E402
from deploy.cluster import base_env  # noqa: E402


def run_python(code: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=PROJECT, env={**base_env(), **(env or {})}, timeout=timeout)


def test_importing_the_stores_and_channels_changes_nothing_in_rasa():
    result = run_python("""
        import rasa.core.actions.action as action
        import rasa.core.tracker_store as tracker_store
        from rasa.engine.runner.dask import DaskGraphRunner
        before = (action.action_for_name_or_text, tracker_store._load_from_module_name_in_endpoint_config,
                  DaskGraphRunner.run, action.RemoteAction._validate_action_result)
        import stores.tracker_store, channels.rest, channels.socketio
        after = (action.action_for_name_or_text, tracker_store._load_from_module_name_in_endpoint_config,
                 DaskGraphRunner.run, action.RemoteAction._validate_action_result)
        print("unchanged" if before == after else "changed")
        import rasa_ext
        print(",".join(rasa_ext.install()))
        print("patched" if action.action_for_name_or_text is not before[0] else "not patched")
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "unchanged"
    assert lines[1].split(",") == list(rasa_ext.PATCHES)
    assert lines[2] == "patched"


def test_the_version_guard_names_each_mismatch():
    wanted = {"rasa": "3.6.21", "sanic": "21.12.2", "aiogram": "2.15"}
    assert versions.mismatches(wanted, {"rasa": "3.6.21", "sanic": "21.12.2", "aiogram": "2.15"}) == []
    problems = versions.mismatches(wanted, {"rasa": "3.7.0", "sanic": "21.12.2", "aiogram": None})
    assert problems == ["  rasa: installed 3.7.0, the patches need 3.6.21",
                        "  aiogram: installed nothing, the patches need 2.15"]


def test_the_installed_stack_is_the_one_the_patches_were_written_for():
    assert versions.mismatches() == []


def test_the_launcher_stops_before_rasa_when_a_release_differs(tmp_path):
    # A distribution found first on sys.path shadows the installed one for importlib.metadata.
    fake = tmp_path / "sanic-22.0.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: sanic\nVersion: 22.0.0\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "rasa_ext", "--version"], capture_output=True, text=True,
                            cwd=PROJECT, env={**base_env(), "PYTHONPATH": f"{tmp_path}:{PROJECT}"}, timeout=120)
    assert result.returncode != 0
    assert "sanic: installed 22.0.0, the patches need 21.12.2" in result.stderr
    assert "requirements/UPGRADING.md" in result.stderr
    assert "Rasa Version" not in result.stdout  # Rasa's own --version never ran


def test_switching_off_is_for_speed_patches_only(monkeypatch):
    monkeypatch.setenv(rasa_ext.OFF_VARIABLE, "graph_runner, model_load")
    assert rasa_ext.switched_off() == ["graph_runner", "model_load"]
    monkeypatch.setenv(rasa_ext.OFF_VARIABLE, "action_apology")
    with pytest.raises(SystemExit, match="cannot be switched off"):
        rasa_ext.switched_off()
    monkeypatch.setenv(rasa_ext.OFF_VARIABLE, "no_such_patch")
    with pytest.raises(SystemExit, match="unknown patch"):
        rasa_ext.switched_off()


@pytest.mark.parametrize("store_type, module_text", [
    ("no_such_module.Store", None),
    ("empty_store.Store", ""),
])
def test_a_tracker_store_that_cannot_be_created_stops_rasa(tmp_path, store_type, module_text):
    if module_text is not None:
        (tmp_path / (store_type.split(".")[0] + ".py")).write_text(module_text, encoding="utf-8")
    result = run_python(f"""
        import rasa_ext
        rasa_ext.install()
        from rasa.core.tracker_store import TrackerStore
        from rasa.utils.endpoints import EndpointConfig
        store = TrackerStore.create(EndpointConfig(type={store_type!r}))
        print(type(store).__name__)
    """, env={"PYTHONPATH": f"{tmp_path}:{PROJECT}"})
    assert result.returncode != 0, result.stdout
    assert "TrackerStoreNotCreated" in result.stderr
    assert f"type '{store_type}' under tracker_store in endpoints.yml" in result.stderr
    assert "InMemoryTrackerStore" not in result.stdout
