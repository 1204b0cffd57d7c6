"""The action server plus the operators' policy-table endpoints.

    python -m actions.server --actions actions --port 5055

serves everything `rasa run actions` serves (/webhook, /health, /actions; same command-line options)
and, when the environment variable POLICY_RELOAD_TOKEN is set:

- `POST /policy/reload` — check and load the policy table now. 200 `{"status": "loaded", "rows": …}`;
  422 `{"status": "refused", "errors": [{file, line, column, message_zh, message_en}, …]}` when the
  table fails the check, and the previous table keeps serving.
- `GET /policy/status` — rows, active rows, file, loaded-at, last error.

Both need the header `Authorization: Bearer <POLICY_RELOAD_TOKEN>` (401 without it, 403 with a wrong
token). Without the variable both answer 404 (disabled). The table also reloads by itself when
its file changes (see yibao/table_store.py); the endpoint is for an operator who wants the answer now.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import sys
from functools import partial
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from yibao.policy import PolicyTableError, Problem
from yibao.table_store import TableStore

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "POLICY_RELOAD_TOKEN"
_json = partial(response.json, dumps=partial(json.dumps, ensure_ascii=False))


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "column": problem.column, "severity": problem.severity,
            "message_zh": problem.message_zh, "message_en": problem.message_en, "text": str(problem)}


def table_status(store: TableStore) -> dict[str, Any]:
    table = store.current
    error = store.last_error
    return {
        "table": str(store.table_path),
        "sources": str(store.sources_path),
        "rows": len(table.rows) if table else 0,
        "active_rows": len(table.active()) if table else 0,
        "loaded_at": store.loaded_at.isoformat() if store.loaded_at else None,
        "last_error": [_problem_json(p) for p in error.problems] if error else None,
        "last_error_at": store.last_error_at.isoformat() if error and store.last_error_at else None,
    }


def _authorised(request: Request, token: str) -> HTTPResponse | None:
    """None when the bearer token matches, else the 401/403 response."""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _json({"error": "需要令牌 / bearer token required"}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="policy"'})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _json({"error": "令牌错误 / invalid token"}, status=403)
    return None


def add_policy_routes(app: Sanic, store: TableStore, token: str | None) -> None:
    """Register /policy/reload and /policy/status on `app`; both answer 404 when `token` is empty."""
    if not token:
        logger.info("%s is not set: /policy/reload and /policy/status are disabled", TOKEN_VARIABLE)

        # Registered anyway: rasa_sdk's catch-all exception handler would turn an unknown route into a 500.
        @app.route("/policy/reload", methods=["POST", "GET"])
        @app.route("/policy/status", methods=["GET"], name="policy_status_disabled")
        async def policy_disabled(request: Request) -> HTTPResponse:
            return _json({"error": f"未启用：请设置 {TOKEN_VARIABLE} / disabled: set {TOKEN_VARIABLE}"}, status=404)
        return

    @app.post("/policy/reload")
    async def policy_reload(request: Request) -> HTTPResponse:
        refused = _authorised(request, token)
        if refused:
            return refused
        try:
            table = store.reload()
        except PolicyTableError as error:
            return _json({"status": "refused",
                                  "message": "政策表未通过检查，继续使用之前的表 / the table failed the check, "
                                             "the previous table keeps serving",
                                  "errors": [_problem_json(p) for p in error.problems],
                                  "serving": table_status(store)}, status=422)
        except OSError as error:
            problem = Problem(store.table_path.name, 1, "-", f"无法读取文件：{error.strerror}",
                              f"cannot read the file: {error}")
            return _json({"status": "refused", "message": str(problem), "errors": [_problem_json(problem)],
                                  "serving": table_status(store)}, status=422)
        logger.info("policy table reloaded on request: %d rows", len(table.rows))
        return _json({"status": "loaded", **table_status(store)}, status=200)

    @app.get("/policy/status")
    async def policy_status(request: Request) -> HTTPResponse:
        refused = _authorised(request, token)
        if refused:
            return refused
        return _json(table_status(store), status=200)


def create_app(action_package: str = "actions", cors_origins: Any = "*", auto_reload: bool = False,
               store: TableStore | None = None, token: str | None = None) -> Sanic:
    """rasa_sdk's action server app with the policy routes. `store` defaults to the one the actions use."""
    from rasa_sdk.endpoint import create_app as create_action_app

    app = create_action_app(action_package, cors_origins=cors_origins, auto_reload=auto_reload)
    if store is None:
        from actions.actions import TABLE as store  # the very store the actions answer from
    try:
        store.get()  # load now, so that /policy/status and the log show the table from the start
    except (PolicyTableError, OSError) as error:
        logger.error("the policy table cannot be loaded yet: %s", error)
    add_policy_routes(app, store, os.environ.get(TOKEN_VARIABLE) if token is None else token)
    return app


def main(argv: list[str] | None = None) -> None:
    from rasa_ext.versions import check_versions

    # This start-up mirrors rasa_sdk's own `rasa run actions` (its endpoint module's helpers).
    check_versions(["rasa-sdk", "sanic"])
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_argument_parser, create_ssl_context
    from rasa_sdk.plugin import plugin_manager

    args = create_argument_parser().parse_args(argv)
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()

    app = create_app(args.actions or "actions", cors_origins=args.cors, auto_reload=args.auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    ssl_context = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")
    logger.info("Action endpoint is up and running on %s://%s:%s", "https" if ssl_context else "http", host,
                args.port)
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main(sys.argv[1:])
