"""Start and stop the project's servers for tests (a real action server, a real Rasa server)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODEL = PROJECT / "models" / "yibao.tar.gz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT), "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}


def start_action_server(port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(port)],
                               cwd=PROJECT, env=env(), stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/health", process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def write_endpoints(directory: Path, action_port: int) -> Path:
    """An endpoints file for a test server: the given action server and a SQLite tracker store in `directory`."""
    path = directory / "endpoints.yml"
    path.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {directory / 'tracker.db'}\n",
        encoding="utf-8")
    return path
