"""A real `rasa run` for tests: the trained model, a temporary endpoints file (free ports, a temporary
SQLite tracker file unless told otherwise) and a temporary credentials file."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from servers import PROJECT, cluster, free_port

QUIET_ENV = {
    "PYTHONPATH": str(PROJECT),
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONWARNINGS": "ignore::DeprecationWarning",
}


def masking_sqlite(db: Path) -> Dict[str, Any]:
    return {"type": "stores.tracker_store.MaskingSQLTrackerStore", "dialect": "sqlite", "db": str(db)}


class RasaServer:
    """``rasa run`` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(
        self,
        workdir: Path,
        action_port: int,
        *,
        tracker_store: Optional[Dict[str, Any]] = None,
        credentials: Optional[Dict[str, Any]] = None,
        env: Optional[Dict[str, str]] = None,
        args: Sequence[str] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.db = self.workdir / "tracker.db"
        self.endpoints = {
            "action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"},
            "tracker_store": tracker_store or masking_sqlite(self.db),
        }
        self.credentials = credentials if credentials is not None else {"channels.rest.RestInput": None}
        self.env = {**os.environ, **QUIET_ENV, **(env or {})}
        self.args = list(args)
        self.log = self.workdir / "rasa.log"
        self.process: Optional[subprocess.Popen] = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> List[str]:
        endpoints, credentials = self.workdir / "endpoints.yml", self.workdir / "credentials.yml"
        endpoints.write_text(yaml.safe_dump(self.endpoints, allow_unicode=True), encoding="utf-8")
        credentials.write_text(yaml.safe_dump(self.credentials, allow_unicode=True), encoding="utf-8")
        return [*cluster.rasa_run_command(self.port, endpoints, credentials), *self.args]

    def start(self, timeout: float = 300) -> "RasaServer":
        # The model refers to build/spacy_zh relative to the project, so Rasa runs there.
        self.process = subprocess.Popen(self.command(), cwd=PROJECT, env=self.env,
                                        stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        _wait_for_rest(self, "rasa run", timeout)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def post_json(url: str, payload: Any, timeout: float = 60) -> tuple:
    """(status, parsed JSON or text)."""
    return post_raw(url, json.dumps(payload, ensure_ascii=False).encode("utf-8"), timeout=timeout)


def post_raw(url: str, body: bytes, headers: Optional[Dict[str, str]] = None, timeout: float = 60) -> tuple:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, raw, ctype = error.code, error.read(), error.headers.get("Content-Type", "")
    text = raw.decode("utf-8", errors="replace")
    if "json" in ctype:
        try:
            return status, json.loads(text)
        except ValueError:
            pass
    return status, text


def texts(reply: Any) -> str:
    """The bot texts of a REST answer, joined."""
    if not isinstance(reply, list):
        return ""
    return "\n".join(str(m.get("text", "")) for m in reply if isinstance(m, dict))


def sqlite_rows(db: Path, sender: Optional[str] = None) -> List[tuple]:
    """(id, sender_id, type_name, intent_name, action_name, data) rows of the events table."""
    with sqlite3.connect(str(db)) as connection:
        query = "SELECT id, sender_id, type_name, intent_name, action_name, data FROM events"
        if sender is None:
            return connection.execute(query + " ORDER BY id").fetchall()
        return connection.execute(query + " WHERE sender_id = ? ORDER BY id", (sender,)).fetchall()


# ---------------------------------------------------------------------------------------- run.sh
MIRROR_SKIP = {"build", "scripts", "endpoints.yml", "logs", "tracker.db", ".git", ".pytest_cache", ".hypothesis",
               "results", "reports"}


def project_mirror(root: Path, endpoints: Dict[str, Any]) -> Path:
    """A copy of the project made of symlinks, with its own endpoints.yml, build/ and logs/, so that
    scripts/run.sh runs exactly as `make run` would without touching the project's files.

    ``YIBAO_RUN_SH`` (test-only) replaces scripts/run.sh by another file, e.g. a proposed change.
    """
    root.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT.iterdir():
        if entry.name not in MIRROR_SKIP:
            (root / entry.name).symlink_to(entry)
    (root / "build").mkdir()
    (root / "build" / "spacy_zh").symlink_to(PROJECT / "build" / "spacy_zh")
    (root / "scripts").mkdir()
    for script in (PROJECT / "scripts").iterdir():
        (root / "scripts" / script.name).symlink_to(script)
    override = os.environ.get("YIBAO_RUN_SH")
    if override:
        (root / "scripts" / "run.sh").unlink()
        (root / "scripts" / "run.sh").symlink_to(Path(override).resolve())
    (root / "endpoints.yml").write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    return root


class RunScript:
    """`bash scripts/run.sh` in a project mirror, on free ports, in its own process group."""

    def __init__(self, root: Path, env: Dict[str, str]) -> None:
        self.root = root
        self.rasa_port = free_port()
        self.actions_port = free_port()
        inherited = {k: v for k, v in os.environ.items()
                     if not k.startswith(("WECHAT_", "TELEGRAM_", "RASA_", "CORS_", "REST_AUTH", "SANIC_"))}
        self.env = {**inherited, **QUIET_ENV, "RASA_PORT": str(self.rasa_port),
                    "ACTIONS_PORT": str(self.actions_port), **env}
        self.log = root / "run.log"
        self.process: Optional[subprocess.Popen] = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self, wait: bool = True, timeout: float = 300) -> "RunScript":
        self.process = subprocess.Popen(["bash", str(self.root / "scripts" / "run.sh")], cwd=self.root,
                                        env=self.env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        if not wait:
            return self
        _wait_for_rest(self, "run.sh", timeout)
        return self

    def wait(self, timeout: float = 120) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def _wait_for_rest(server: Any, what: str, timeout: float) -> None:
    """Wait until `server` (RasaServer or RunScript) answers on its REST health URL; on exit or
    time-out stop it and raise with the tail of its log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {server.process.returncode}:\n{server.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.base}/webhooks/rest/", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"{what} did not answer within {timeout} s:\n{server.log_text()[-3000:]}")
