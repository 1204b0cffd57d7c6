"""Can the configured tracker store and lock store be reached? Plain Python (no Rasa import), used by
``scripts/preflight.py`` before Rasa starts and by ``stores.tracker_store`` when Rasa builds the store.

Every problem is reported in Chinese and English and names the endpoints.yml setting to fix; a
password is never printed.
"""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521,
                 "redis": 6379, "mongod": 27017}
BUILTIN_TRACKER_TYPES = {"sql", "redis", "mongod", "dynamo", "in_memory"}
_ENV = re.compile(r"\$\{([^}]*)\}")


class Unreachable(Exception):
    """A configured store cannot be used; ``str()`` is the bilingual message for the operator."""


@dataclass
class Problem:
    section: str
    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh}\n{self.en}"


def expand_env(value: Any, environ: Optional[Dict[str, str]] = None) -> Any:
    """``${VAR}`` in strings replaced as Rasa does when it reads endpoints.yml."""
    environ = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: "re.Match[str]") -> str:
        name = match.group(1)
        if name not in environ:
            raise Unreachable(f"endpoints.yml 引用的环境变量 {name} 未设置\n"
                              f"endpoints.yml refers to the environment variable {name}, which is not set")
        return environ[name]

    return _ENV.sub(replace, value)


def describe(section: str, config: Dict[str, Any]) -> str:
    """The settings of a section as ``key=value`` pairs, the password hidden."""
    shown = []
    for key in ("type", "dialect", "url", "host", "port", "db", "login_db", "username", "password"):
        if key in config and config[key] not in (None, ""):
            value = "***" if key == "password" else config[key]
            shown.append(f"{key}={value}")
    return f"endpoints.yml {section}: " + ", ".join(shown)


def _host_port(config: Dict[str, Any], default_port: Optional[int]) -> tuple:
    host = config.get("url") or config.get("host") or "localhost"
    host = str(host)
    port = config.get("port")
    if "://" in host:  # a full URL such as postgresql://user:pw@db:5432/rasa or redis://cache:6379
        from urllib.parse import urlsplit

        parts = urlsplit(host)
        return parts.hostname or "localhost", parts.port or port or default_port
    if host.count(":") == 1:  # host:port
        name, _, maybe_port = host.partition(":")
        if maybe_port.isdigit():
            return name, int(maybe_port)
    return host, port or default_port


def tcp_reachable(host: str, port: int, timeout: float) -> Optional[str]:
    """None when a TCP connection opens, else the reason."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except socket.gaierror as error:
        return f"unknown host ({error})"
    except OSError as error:
        return error.strerror or type(error).__name__


def _sql_problem(section: str, config: Dict[str, Any], timeout: float) -> Optional[Problem]:
    dialect = str(config.get("dialect") or "sqlite").lower()
    where = describe(section, config)
    if dialect.startswith("sqlite"):
        db = str(config.get("db") or "rasa.db")
        folder = os.path.dirname(os.path.abspath(db))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            return Problem(section,
                           f"无法使用对话存储 {section}（{where}）：目录 {folder} 不存在或不可写。请修改 endpoints.yml 中 {section} 的 db。",
                           f"Cannot use the {section} ({where}): the folder {folder} does not exist or is not "
                           f"writable. Fix `db` under {section} in endpoints.yml.")
        if os.path.exists(db) and not os.access(db, os.W_OK):
            return Problem(section,
                           f"无法使用对话存储 {section}（{where}）：文件 {db} 不可写。",
                           f"Cannot use the {section} ({where}): the file {db} is not writable.")
        return None

    host, port = _host_port(config, DEFAULT_PORTS.get(dialect.split("+")[0]))
    reason = tcp_reachable(host, port, timeout)
    if reason:
        return Problem(section,
                       f"无法连接对话存储 {section}（{where}）：{host}:{port} {reason}。"
                       f"请检查 endpoints.yml 中 {section} 的 url/host、port，或先启动数据库。",
                       f"Cannot connect to the {section} ({where}): {host}:{port} {reason}. "
                       f"Fix url/host and port under {section} in endpoints.yml, or start the database.")
    # The port answers: log in as Rasa will (wrong password, missing database...).
    try:
        import sqlalchemy as sa

        url = sa.engine.url.URL.create(
            dialect, config.get("username"), config.get("password"), host, int(port),
            database=config.get("login_db") or config.get("db") or "rasa.db", query=config.get("query") or {},
        )
        connect_args = {"connect_timeout": max(1, int(timeout))} if dialect.startswith("postgres") else {}
        engine = sa.create_engine(url, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as error:  # message of the driver, password never included by SQLAlchemy
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return Problem(section,
                       f"无法登录对话存储 {section}（{where}）：{first_line}。"
                       f"请检查 endpoints.yml 中 {section} 的 db、username、password。",
                       f"Cannot log in to the {section} ({where}): {first_line}. "
                       f"Fix db, username and password under {section} in endpoints.yml.")
    return None


def tracker_store_problem(config: Optional[Dict[str, Any]], timeout: float = 5.0) -> Optional[Problem]:
    section = "tracker_store"
    if not config or not config.get("type"):
        return None  # Rasa keeps conversations in memory
    store_type = str(config["type"])
    if store_type.lower() == "sql":
        return _sql_problem(section, config, timeout)
    if store_type.lower() in ("redis", "mongod"):
        return _server_problem(section, config, DEFAULT_PORTS[store_type.lower()], timeout, "对话存储", "", "")
    if store_type.lower() not in BUILTIN_TRACKER_TYPES:
        # Rasa silently falls back to an in-memory store when a custom type cannot be imported.
        problem = _import_problem(section, store_type)
        if problem:
            return problem
        if config.get("dialect"):  # an SQL store subclass such as stores.tracker_store.MaskingSQLTrackerStore
            return _sql_problem(section, config, timeout)
    return None


def _import_problem(section: str, type_path: str) -> Optional[Problem]:
    module, _, name = type_path.rpartition(".")
    try:
        found = bool(module) and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return Problem(section,
                       f"endpoints.yml 中 {section} 的 type {type_path} 无法导入（模块 {module or '?'} 不存在；"
                       f"请检查 PYTHONPATH 或 type）。Rasa 会静默改用内存存储，所以不启动。",
                       f"type {type_path} under {section} in endpoints.yml cannot be imported (module "
                       f"{module or '?'} not found; check PYTHONPATH or the type). Rasa would silently fall back "
                       f"to an in-memory store, so it is not started.")
    return None


def lock_store_problem(config: Optional[Dict[str, Any]], timeout: float = 5.0) -> Optional[Problem]:
    section = "lock_store"
    if not config or str(config.get("type") or "in_memory").lower() == "in_memory":
        return None
    store_type = str(config["type"]).lower()
    if store_type not in ("redis", "concurrent_redis"):
        problem = _import_problem(section, str(config["type"]))
        # A subclass of Rasa's Redis lock store named so (rasa_ext.lock_store.FairRedisLockStore) takes
        # the same keys: check its Redis too.
        if problem or not store_type.endswith("redislockstore"):
            return problem
    return _server_problem(section, config, DEFAULT_PORTS["redis"], timeout, "锁存储", "，或先启动 Redis",
                           ", or start Redis")


def _server_problem(section: str, config: Dict[str, Any], default_port: int, timeout: float, kind_zh: str,
                    hint_zh: str, hint_en: str) -> Optional[Problem]:
    """None when the store's server port answers, else the problem naming the settings to fix."""
    host, port = _host_port(config, default_port)
    reason = tcp_reachable(host, port, timeout)
    if not reason:
        return None
    where = describe(section, config)
    return Problem(section,
                   f"无法连接{kind_zh} {section}（{where}）：{host}:{port} {reason}。请检查 endpoints.yml 中 {section} 的 url、port{hint_zh}。",
                   f"Cannot connect to the {section} ({where}): {host}:{port} {reason}. "
                   f"Fix url and port under {section} in endpoints.yml{hint_en}.")


def problems(endpoints: Dict[str, Any], timeout: float = 5.0) -> List[Problem]:
    endpoints = endpoints or {}
    found = []
    for check, key in ((tracker_store_problem, "tracker_store"), (lock_store_problem, "lock_store")):
        problem = check(endpoints.get(key), timeout)
        if problem:
            found.append(problem)
    return found


def wait_for_sql(engine_url: Any, section_config: Dict[str, Any], deadline_seconds: float) -> None:
    """Tries to connect with ``engine_url`` until ``deadline_seconds`` have passed (a database that is
    still starting); raises ``Unreachable`` with the bilingual message naming the setting."""
    import sqlalchemy as sa

    started = time.monotonic()
    last_error: Optional[BaseException] = None
    connect_args = {"connect_timeout": 5} if str(engine_url).startswith("postgres") else {}
    while True:
        engine = sa.create_engine(engine_url, connect_args=connect_args)
        try:
            with engine.connect():
                return
        except Exception as error:  # OperationalError and the driver's own errors
            last_error = error
        finally:
            engine.dispose()
        if time.monotonic() - started >= deadline_seconds:
            break
        time.sleep(1.0)
    detail = str(last_error).strip().splitlines()[0] if last_error and str(last_error).strip() else "?"
    where = describe("tracker_store", section_config)
    raise Unreachable(
        f"无法连接对话存储 tracker_store（{where}）：{detail}。请检查 endpoints.yml 中 tracker_store 的 "
        f"url/host、port、db、username、password，或先启动数据库。\n"
        f"Cannot connect to the tracker store ({where}) within {deadline_seconds:g} s: {detail}. "
        f"Fix url/host, port, db, username or password under tracker_store in endpoints.yml, "
        f"or start the database."
    )
