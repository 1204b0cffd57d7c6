"""Faults: the action server down, failing or slow; the tracker store unreachable at start.

One real Rasa server (the trained model, the project's REST channel, a temporary SQLite tracker
store) whose action endpoint is a free port on which the test starts and stops a real action server
or a fake one.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from rasa_server import RasaServer, post_json, sqlite_rows, texts
from servers import MODEL, PROJECT, free_port, start_action_server, stop
from yibao.texts import load_texts

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

ACTION_TIMEOUT = 3  # seconds, ACTION_SERVER_TIMEOUT for the Rasa server under test
APOLOGY = load_texts()["channel_apology"]  # what every channel and the action apology say


@pytest.fixture(scope="module")
def rasa(tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    action_port = free_port()  # nothing listens there yet: the action server is down
    server = RasaServer(work, action_port, env={"ACTION_SERVER_TIMEOUT": str(ACTION_TIMEOUT)}).start()
    server.action_port = action_port
    try:
        yield server
    finally:
        server.stop()


def say(server: RasaServer, sender: str, text: str) -> tuple:
    started = time.monotonic()
    status, reply = post_json(f"{server.base}/webhooks/rest/webhook", {"sender": sender, "message": text})
    return status, texts(reply), time.monotonic() - started


def assert_apology(status: int, text: str, seconds: float, limit: float) -> None:
    assert status == 200
    assert APOLOGY in text
    assert seconds < limit, f"the apology took {seconds:.1f} s"


# ------------------------------------------------------------------------------ action server down
def test_action_server_down_gives_the_apology_and_the_conversation_continues_when_it_is_back(rasa, tmp_path):
    sender = uuid.uuid4().hex
    # Down (connection refused): an apology, at once, instead of silence.
    assert_apology(*say(rasa, sender, "亲情账户绑定后多久生效"), limit=ACTION_TIMEOUT + 5)
    # Responses that need no action server still work meanwhile.
    status, text, _ = say(rasa, sender, "你是机器人吗")
    assert status == 200 and "自动回答程序" in text

    actions = start_action_server(rasa.action_port, tmp_path / "actions1.log")
    try:
        status, first, _ = say(rasa, sender, "亲情账户绑定后多久生效")
        assert status == 200 and "15号前" in first and "哪天绑定" in first
    finally:
        stop(actions)

    # Down again in the middle of the question: the answer to the follow-up is an apology ...
    assert_apology(*say(rasa, sender, "我是10月16号绑的"), limit=ACTION_TIMEOUT + 5)

    actions = start_action_server(rasa.action_port, tmp_path / "actions2.log")
    try:
        # ... and when it is back, the same follow-up is answered with the context of before.
        status, second, _ = say(rasa, sender, "我是10月16号绑的")
        assert status == 200 and "11月1日" in second and "抱歉" not in second
    finally:
        stop(actions)

    assert rasa.alive()
    rows = sqlite_rows(rasa.db, sender)
    stored_bot_texts = [json.loads(r[5]).get("text") for r in rows if r[2] == "bot"]
    assert sum(t == APOLOGY for t in stored_bot_texts) == 2
    assert "Custom action 'action_answer' failed" in rasa.log_text()


# ------------------------------------------------------------------------------ slow or failing fake
class FakeActionServer:
    """Answers the action webhook too slowly, or with HTTP 500."""

    def __init__(self, port: int, mode: str, delay: float = ACTION_TIMEOUT + 4) -> None:
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if mode == "slow":
                    time.sleep(delay)
                    body, status = json.dumps({"events": [], "responses": [{"text": "太慢了"}]}).encode(), 200
                else:
                    body, status = b'{"error": "boom"}', 500
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # Rasa gave up and closed the connection

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeActionServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_slow_or_failing_action_server_gives_the_apology(rasa, mode):
    sender = uuid.uuid4().hex
    with FakeActionServer(rasa.action_port, mode) as fake:
        status, text, seconds = say(rasa, sender, "家庭共济多久生效")
        assert fake.calls >= 1
    assert_apology(status, text, seconds, limit=ACTION_TIMEOUT + 5)
    assert "太慢了" not in text
    if mode == "slow":
        assert seconds >= ACTION_TIMEOUT - 0.5  # it waited for the time limit, not less
    assert rasa.alive()


# ------------------------------------------------------------------------------ REST safety net (in-process)
def _rest_client(handler):
    from sanic import Sanic
    from sanic_testing.testing import SanicASGITestClient

    from channels.rest import RestInput

    Sanic.test_mode = True
    app = Sanic(f"faults_rest_{uuid.uuid4().hex[:8]}")
    channel = RestInput()
    app.blueprint(channel.blueprint(handler), url_prefix="/webhooks/rest")
    return SanicASGITestClient(app)


@pytest.mark.parametrize("behaviour", ["raises", "silent"])
def test_rest_channel_apologises_when_rasa_raises_or_says_nothing(behaviour):
    async def handler(message):
        if behaviour == "raises":
            raise RuntimeError("tracker store went away")

    async def scenario():
        client = _rest_client(handler)
        _, response = await client.post("/webhooks/rest/webhook", json={"sender": "s1", "message": "你好"})
        return response

    response = asyncio.new_event_loop().run_until_complete(scenario())
    assert response.status == 200
    assert response.json == [{"recipient_id": "s1", "text": APOLOGY}]


# ------------------------------------------------------------------------------ tracker store unreachable
def _endpoints(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text(yaml.safe_dump(sections, allow_unicode=True), encoding="utf-8")
    return path


def _preflight(endpoints: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT / "scripts" / "preflight.py"), "--endpoints", str(endpoints),
                           "--timeout", "3"], capture_output=True, text=True, timeout=60, cwd=endpoints.parent)


def test_preflight_refuses_an_unreachable_postgresql_tracker_store_naming_the_setting(tmp_path):
    closed = free_port()
    endpoints = _endpoints(tmp_path, tracker_store={
        "type": "stores.tracker_store.MaskingSQLTrackerStore", "dialect": "postgresql", "url": "127.0.0.1",
        "port": closed, "db": "rasa", "username": "postgres", "password": "pw-must-not-show"})
    started = time.monotonic()
    result = _preflight(endpoints)
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    for expected in ("无法连接对话存储 tracker_store", "Cannot connect", "endpoints.yml", "url/host", "port",
                     f"127.0.0.1:{closed}"):
        assert expected in result.stderr
    assert "pw-must-not-show" not in result.stderr + result.stdout


def test_preflight_checks_the_lock_store_and_custom_types(tmp_path):
    closed = free_port()
    endpoints = _endpoints(tmp_path, tracker_store={"type": "SQL", "dialect": "sqlite", "db": "t.db"},
                           lock_store={"type": "redis", "url": "127.0.0.1", "port": closed})
    result = _preflight(endpoints)
    assert result.returncode == 2 and "lock_store" in result.stderr and "无法连接锁存储" in result.stderr

    # The scale profile's own Redis lock store class is checked like `type: redis`.
    endpoints = _endpoints(tmp_path, tracker_store={"type": "SQL", "dialect": "sqlite", "db": "t.db"},
                           lock_store={"type": "rasa_ext.lock_store.FairRedisLockStore", "url": "127.0.0.1",
                                       "port": closed})
    result = _preflight(endpoints)
    assert result.returncode == 2 and f"127.0.0.1:{closed}" in result.stderr and "start Redis" in result.stderr

    endpoints = _endpoints(tmp_path, tracker_store={"type": "no_such_module.Store", "dialect": "sqlite"})
    result = _preflight(endpoints)
    assert result.returncode == 2 and "no_such_module.Store" in result.stderr and "PYTHONPATH" in result.stderr


def test_preflight_accepts_the_shipped_endpoints_and_a_reachable_store(tmp_path):
    result = subprocess.run([sys.executable, "scripts/preflight.py"], capture_output=True, text=True,
                            timeout=60, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    endpoints = _endpoints(tmp_path, tracker_store={"type": "stores.tracker_store.MaskingSQLTrackerStore",
                                                    "dialect": "sqlite", "db": str(tmp_path / "t.db")})
    assert _preflight(endpoints).returncode == 0


def run_until_exit(server: RasaServer, timeout: float, hang_message: str) -> tuple:
    """`rasa run` of `server` in the foreground: (exit code, everything it printed); fails if it hangs."""
    process = subprocess.Popen(server.command(), cwd=PROJECT, env=server.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(hang_message)
    return process.returncode, output.decode("utf-8", errors="replace")


def test_rasa_run_stops_with_a_clear_error_when_postgresql_is_unreachable(tmp_path):
    """Without the preflight, Rasa's own SQL store would retry every 5 s forever; ours gives up."""
    closed = free_port()
    server = RasaServer(tmp_path, free_port(), tracker_store={
        "type": "stores.tracker_store.MaskingSQLTrackerStore", "dialect": "postgresql", "url": "127.0.0.1",
        "port": closed, "db": "rasa", "username": "postgres", "password": "pw-must-not-show",
        "connect_timeout": 2})
    returncode, text = run_until_exit(server, 180, "rasa run kept waiting for the unreachable tracker store")
    assert returncode != 0
    assert "TrackerStoreUnreachable" in text
    assert "无法连接对话存储 tracker_store" in text and "under tracker_store in endpoints.yml" in text
    assert "pw-must-not-show" not in text


def test_rasa_run_stops_when_the_tracker_store_cannot_be_imported(tmp_path):
    """Rasa's default would be an in-memory store after one warning: every conversation lost, no masking."""
    (tmp_path / "store_with_missing_driver.py").write_text("import no_such_database_driver\n", encoding="utf-8")
    server = RasaServer(tmp_path, free_port(), tracker_store={"type": "store_with_missing_driver.Store"},
                        env={"PYTHONPATH": f"{tmp_path}:{PROJECT}"})
    returncode, text = run_until_exit(server, 240, "rasa run started without its tracker store")
    assert returncode != 0
    assert "TrackerStoreNotCreated" in text
    assert "type 'store_with_missing_driver.Store' under tracker_store in endpoints.yml" in text
    assert "Using `InMemoryTrackerStore` instead" not in text
