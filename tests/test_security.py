"""Security of a production start: Rasa's HTTP API off by default and token-protected when on, CORS
limited to the configured origins, channel authentication, no secret in a committed file.

The server tests run the real scripts/run.sh (as `make run` does) in a mirror of the project made of
symlinks, with free ports and a temporary tracker store, and talk to it over HTTP.
"""
from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, Optional

import pytest
import yaml

from rasa_server import RunScript, masking_sqlite, post_json, project_mirror, texts
from servers import MODEL, PROJECT

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

TOKEN = "t0ken-" + uuid.uuid4().hex


def request(url: str, method: str = "GET", body: Optional[bytes] = None,
            headers: Optional[Dict[str, str]] = None) -> tuple:
    """(status, headers, body text); HTTP errors are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.headers, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def start(tmp_path: Path, **env: str) -> RunScript:
    root = project_mirror(tmp_path / "project", {
        "action_endpoint": {"url": "http://localhost:5055/webhook"},  # run.sh follows ACTIONS_PORT
        "tracker_store": masking_sqlite(tmp_path / "tracker.db"),
    })
    return RunScript(root, env)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`make run` with nothing set: API off, CORS only for the server's own origin."""
    run = start(tmp_path_factory.mktemp("default")).start()
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    run = start(tmp_path_factory.mktemp("api"), RASA_ENABLE_API="1", RASA_AUTH_TOKEN=TOKEN,
                CORS_ORIGINS="https://chat.example.org, https://admin.example.org").start()
    try:
        yield run
    finally:
        run.stop()


def allowed_origin(run: RunScript, origin: str, path: str = "/webhooks/rest/") -> Optional[str]:
    _, headers, _ = request(run.base + path, headers={"Origin": origin})
    return headers.get("Access-Control-Allow-Origin")


def preflight_allowed(run: RunScript, origin: str) -> Optional[str]:
    _, headers, _ = request(run.base + "/webhooks/rest/webhook", method="OPTIONS",
                            headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    return headers.get("Access-Control-Allow-Origin")


# ------------------------------------------------------------------------------ API off (default)
def test_by_default_the_http_api_is_off_and_the_channels_answer(default_run):
    for method, path in (("POST", "/model/parse"), ("GET", "/status"), ("GET", "/conversations/x/tracker"),
                         ("PUT", "/model"), ("POST", "/model/train")):
        status, _, _ = request(default_run.base + path, method=method, body=b"{}" if method != "GET" else None)
        assert status in (404, 405), (method, path, status)
    status, reply = post_json(f"{default_run.base}/webhooks/rest/webhook", {"sender": "sec", "message": "你好"})
    assert status == 200 and texts(reply)
    assert "--enable-api" not in default_run.log_text()


def test_by_default_cors_allows_only_the_servers_own_origin(default_run):
    own = f"http://localhost:{default_run.rasa_port}"
    assert allowed_origin(default_run, own) == own
    assert preflight_allowed(default_run, own) == own
    for other in ("https://evil.example", f"http://localhost:{default_run.rasa_port}.evil.example", "null"):
        assert allowed_origin(default_run, other) is None, other
        assert preflight_allowed(default_run, other) is None, other


# ------------------------------------------------------------------------------ API on
def test_with_the_api_on_every_api_call_needs_the_token(api_run):
    parse = api_run.base + "/model/parse"
    body = '{"text": "亲情账户多久生效"}'.encode()
    assert request(parse, "POST", body)[0] == 401
    assert request(parse + "?token=wrong", "POST", body)[0] == 401
    status, _, text = request(parse + f"?token={TOKEN}", "POST", body)
    assert status == 200 and '"effective_time"' in text
    assert request(api_run.base + "/status")[0] == 401
    assert request(api_run.base + f"/status?token={TOKEN}")[0] == 200
    assert request(api_run.base + "/conversations/someone/tracker")[0] == 401


def test_with_cors_origins_set_only_those_origins_are_allowed(api_run):
    for origin in ("https://chat.example.org", "https://admin.example.org"):
        assert allowed_origin(api_run, origin) == origin
        assert preflight_allowed(api_run, origin) == origin
    for other in ("https://evil.example", f"http://localhost:{api_run.rasa_port}",
                  "https://chat.example.org.evil.example"):
        assert allowed_origin(api_run, other) is None, other


def test_the_api_without_a_token_refuses_to_start(tmp_path):
    run = start(tmp_path, RASA_ENABLE_API="1").start(wait=False)
    try:
        assert run.wait(60) == 2
    finally:
        run.stop()
    log = run.log_text()
    assert "RASA_AUTH_TOKEN" in log
    assert "Starting Rasa server" not in log and not (run.root / "logs" / "actions.log").exists()


def test_a_cors_pattern_is_refused(tmp_path):
    run = start(tmp_path, CORS_ORIGINS="https://.*example.org").start(wait=False)
    try:
        assert run.wait(60) == 2
    finally:
        run.stop()
    assert "CORS_ORIGINS" in run.log_text()


def test_run_sh_refuses_an_unreachable_tracker_store_before_starting(tmp_path):
    from servers import free_port

    root = project_mirror(tmp_path / "project", {
        "action_endpoint": {"url": "http://localhost:5055/webhook"},
        "tracker_store": {"type": "stores.tracker_store.MaskingSQLTrackerStore", "dialect": "postgresql",
                          "url": "127.0.0.1", "port": free_port(), "db": "rasa", "username": "postgres"},
    })
    run = RunScript(root, {}).start(wait=False)
    try:
        assert run.wait(60) == 2
    finally:
        run.stop()
    log = run.log_text()
    assert "无法连接对话存储 tracker_store" in log and "endpoints.yml" in log
    assert not (root / "logs" / "actions.log").exists()


# ------------------------------------------------------------------------------ channels and secrets
def test_rest_channel_token_is_enforced_when_configured():
    from sanic import Sanic
    from sanic_testing.testing import SanicASGITestClient

    from channels.rest import RestInput

    async def bot(message):
        await message.output_channel.send_text_message(message.sender_id, "ok")

    Sanic.test_mode = True
    app = Sanic(f"security_rest_{uuid.uuid4().hex[:8]}")
    channel = RestInput.from_credentials({"auth_token": "s3cret"})
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/rest")
    client = SanicASGITestClient(app)
    payload = {"sender": "a", "message": "你好"}

    async def scenario():
        results = []
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                        {"Authorization": "Bearer s3cret"}):
            _, response = await client.post("/webhooks/rest/webhook", json=payload, headers=headers)
            results.append(response.status)
        return results

    assert asyncio.new_event_loop().run_until_complete(scenario()) == [401, 401, 401, 200]
    assert "s3cret" not in repr(channel)


SECRET_KEY = re.compile(r"(token|secret|password|passwd|aes_key|api_key|private_key|jwt)", re.IGNORECASE)


def _secret_values(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)) and value not in (None, "") and not (
                    isinstance(value, str) and re.fullmatch(r"\$\{[A-Z0-9_]+\}", value.strip())):
                yield where, value
            yield from _secret_values(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _secret_values(value, f"{path}[{index}]")


@pytest.mark.parametrize("name", ["credentials.yml", "endpoints.yml", "endpoints.scale.yml"])
def test_committed_configuration_holds_no_secret(name):
    path = PROJECT / name
    if not path.exists():
        pytest.skip(f"{name} does not exist")
    found = list(_secret_values(yaml.safe_load(path.read_text(encoding="utf-8")) or {}))
    assert found == [], f"{name} holds literal secrets (use ${{ENV}} or the environment): {found}"


def test_production_credentials_use_the_checking_rest_channel():
    """credentials.yml names channels.rest.RestInput (input checks, masking, apology), not Rasa's `rest`."""
    configured = yaml.safe_load((PROJECT / "credentials.yml").read_text(encoding="utf-8")) or {}
    assert "channels.rest.RestInput" in configured and "rest" not in configured
