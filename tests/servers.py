"""The tests' names for the one launcher, deploy/cluster.py (a real action server, a real Rasa server)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from deploy import cluster  # noqa: E402
from deploy.cluster import MODEL, RASA_COMMAND, VENV_BIN, free_port  # noqa: E402,F401


def env() -> dict[str, str]:
    return cluster.base_env()


def wait_http(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    cluster.wait_http(url, process, timeout)


def start_action_server(port: int, log: Path) -> subprocess.Popen:
    process = cluster.start_action_server(port, log)
    cluster.wait_http(f"http://127.0.0.1:{port}/health", process, 180)
    return process


def stop(process: subprocess.Popen) -> None:
    cluster.stop(process, timeout=20)


def write_endpoints(directory: Path, action_port: int) -> Path:
    """An endpoints file for a test server: the given action server and a SQLite tracker store in `directory`."""
    path = directory / "endpoints.yml"
    path.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {directory / 'tracker.db'}\n",
        encoding="utf-8")
    return path
