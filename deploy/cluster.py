"""Start the scale-out profile on one machine: M action servers and N Rasa replicas behind nginx,
with the tracker store in PostgreSQL and the lock store in Redis (endpoints.scale.yml).

    python -m deploy.cluster --rasa 2 --actions 2 --port 8080       # runs until Ctrl-C

This module is the one launcher of the project's servers: the same helpers start the servers of
`make run`'s tests, the scale-out tests, the benchmarks and the scale profile. Rasa always starts
through `python -m rasa_ext` (version guard and patches, rasa_ext/), the action server through
`python -m actions.server`. Every process is started in its own session and stopped by its own
process id.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

PROJECT = Path(__file__).resolve().parent.parent
_VENV = PROJECT / ".venv" / "bin"
VENV_BIN = _VENV if (_VENV / "rasa").exists() else Path(sys.executable).parent
MODEL = PROJECT / "models" / "yibao.tar.gz"
SCALE_ENDPOINTS = PROJECT / "endpoints.scale.yml"
NGINX_TEMPLATE = PROJECT / "deploy" / "nginx.conf.template"
# The project's checking REST channel when it is there (same URL as Rasa's `rest`).
REST_ONLY = ("channels.rest.RestInput:\n" if (PROJECT / "channels" / "rest.py").exists() else "rest:\n")

# The variables endpoints.scale.yml reads, with the values for the services on this machine.
# Rasa refuses to start when one of them is unset, so every launcher fills them from here.
SCALE_DEFAULTS: Dict[str, str] = {
    "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
    "TRACKER_DB_HOST": "127.0.0.1",
    "TRACKER_DB_PORT": "5432",
    "TRACKER_DB_NAME": "yibao",
    "TRACKER_DB_USER": "postgres",
    "TRACKER_DB_PASSWORD": "",
    "TRACKER_DB_LOGIN_DB": "postgres",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "",
    "REDIS_LOCK_DB": "1",
    "REDIS_KEY_PREFIX": "yibao",
}


def base_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        # Rasa's usage telemetry would try to reach the internet: never from these servers.
        "RASA_TELEMETRY_ENABLED": "false",
    }
    env.update(extra or {})
    return env


# The Redis database the replicas' Socket.IO servers pass emits through (channels/socketio.py), so an
# agent's reply from one replica's inbox reaches a web chat page connected to another.
SOCKETIO_REDIS_DB = "2"


def socketio_redis_url(values: Dict[str, str]) -> str:
    password = values.get("REDIS_PASSWORD") or ""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{values['REDIS_HOST']}:{values['REDIS_PORT']}/{SOCKETIO_REDIS_DB}"


def scale_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment for endpoints.scale.yml: the caller's values win over SCALE_DEFAULTS. The
    replicas' Socket.IO servers share the same Redis (``SOCKETIO_REDIS_URL``, unless it is set)."""
    values = {name: os.environ.get(name, default) for name, default in SCALE_DEFAULTS.items()}
    values.update(extra or {})
    if not (values.get("SOCKETIO_REDIS_URL") or os.environ.get("SOCKETIO_REDIS_URL")):
        values["SOCKETIO_REDIS_URL"] = socketio_redis_url(values)
    return base_env(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_http(url: str, process: Optional[subprocess.Popen] = None, timeout: float = 240) -> float:
    """Wait until `url` answers; returns the seconds waited. Raises if the process exits first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


def _spawn(args: List[str], env: Dict[str, str], log: Path, cwd: Path = PROJECT) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def python() -> str:
    """The interpreter of the project's virtualenv (the one running this, in tests and benchmarks)."""
    candidate = VENV_BIN / "python"
    return str(candidate if candidate.exists() else Path(sys.executable))


# Rasa with the version guard and the patches of rasa_ext/ (same arguments as `rasa`).
RASA_COMMAND = [python(), "-m", "rasa_ext"]


def action_server_command(port: int) -> List[str]:
    return [python(), "-m", "actions.server", "--actions", "actions", "--port", str(port)]


def start_action_server(port: int, log: Path, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    return _spawn(action_server_command(port), env or base_env(), log)


def rest_credentials(folder: Path) -> Path:
    """A credentials file with the REST channel only (what the tests and benchmarks talk to)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "credentials.rest.yml"
    path.write_text(REST_ONLY, encoding="utf-8")
    return path


def start_rasa(port: int, endpoints: Path, log: Path, env: Optional[Dict[str, str]] = None,
               model: Path = MODEL, credentials: Optional[Path] = None, enable_api: bool = False,
               cwd: Path = PROJECT, entry: Optional[List[str]] = None) -> subprocess.Popen:
    """`rasa run` (REST channel unless `credentials` names another file). Not waited for: call
    wait_rasa (model loading takes ~40 s). `entry` replaces the `rasa` command (same arguments)."""
    credentials = credentials or rest_credentials(log.parent)
    args = rasa_run_command(port, endpoints, credentials, model, entry)
    if enable_api:
        args.append("--enable-api")
    return _spawn(args, env or base_env(), log, cwd=cwd)


def rasa_run_command(port: int, endpoints: Path, credentials: Path, model: Path = MODEL,
                     entry: Optional[List[str]] = None) -> List[str]:
    """`rasa run` on 127.0.0.1:`port` through the launcher (`entry` replaces it, same arguments)."""
    return [*(entry or RASA_COMMAND), "run", "--model", str(model), "--endpoints", str(endpoints),
            "--credentials", str(credentials), "--port", str(port), "--interface", "127.0.0.1"]


def wait_rasa(port: int, process: subprocess.Popen, timeout: float = 300) -> float:
    """Wait for the REST channel's GET /webhooks/rest/: Sanic listens only after its
    `before_server_start` listeners, i.e. after Rasa has loaded the model."""
    return wait_http(f"http://127.0.0.1:{port}/webhooks/rest/", process, timeout)


def stop(process: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop a process this module started (and the workers it forked, in its own session)."""
    stop_all([process], sig, timeout)


def stop_all(processes: List[Optional[subprocess.Popen]], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal every process (its whole session) at once, then wait; SIGKILL what outlives `timeout`."""
    running = [process for process in processes if process is not None and process.poll() is None]
    for process in running:
        _signal(process, sig)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            process.wait(timeout=10)
    # Forked Sanic workers live in the same session: make sure none outlives its parent.
    for process in processes:
        if process is None:
            continue
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _signal(process: subprocess.Popen, sig: int) -> None:
    """The process's whole session when it leads one (everything this module starts), else the process."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass


def tree_pids(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants (VmRSS from /proc), in MiB."""
    total_kib = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def render_nginx_conf(prefix: Path, rasa_ports: List[int], action_ports: List[int], rasa_port: int,
                      actions_port: int, listen_host: str = "127.0.0.1") -> Path:
    """Write PREFIX/nginx.conf from deploy/nginx.conf.template and make nginx's temp folders."""
    prefix.mkdir(parents=True, exist_ok=True)

    def servers(ports: List[int]) -> str:
        return "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)

    text = string.Template(NGINX_TEMPLATE.read_text(encoding="utf-8")).safe_substitute(
        prefix=str(prefix), rasa_servers=servers(rasa_ports), action_servers=servers(action_ports),
        rasa_port=rasa_port, actions_port=actions_port, listen_host=listen_host)
    if re.search(r"\$\{\w+\}", text):
        raise ValueError("unfilled field in the nginx template")
    conf = prefix / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def nginx_binary() -> Optional[str]:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def start_nginx(conf: Path, ports: List[int], timeout: float = 15) -> subprocess.Popen:
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed: run `make install-test-tools` (scripts/install.d/test/nginx.sh)")
    prefix = conf.parent
    check = subprocess.run([binary, "-t", "-q", "-e", str(prefix / "error.log"), "-c", str(conf), "-p", str(prefix)],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx config rejected: {check.stderr}")
    process = _spawn([binary, "-e", str(prefix / "error.log"), "-c", str(conf), "-p", str(prefix)],
                     dict(os.environ), prefix / "nginx.out", cwd=prefix)
    deadline = time.monotonic() + timeout
    while not all(port_open(port) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start: {(prefix / 'error.log').read_text(errors='replace')}")
        time.sleep(0.1)
    return process


@dataclass
class Cluster:
    """N Rasa replicas and M action servers behind one nginx (two listening ports)."""

    rasa_replicas: int = 2
    action_replicas: int = 2
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="yibao-cluster-")))
    rasa_port: int = 0  # nginx front for Rasa (0: a free port)
    actions_port: int = 0  # nginx front for the action servers
    endpoints: Path = SCALE_ENDPOINTS
    model: Path = MODEL
    env: Dict[str, str] = field(default_factory=dict)  # overrides of SCALE_DEFAULTS, SANIC_WORKERS...
    replica_env: List[Dict[str, str]] = field(default_factory=list)  # per replica, on top of env
    credentials: Optional[Path] = None  # default: REST channel only
    entry: Optional[List[str]] = None  # replaces the `rasa` command of the replicas

    def __post_init__(self) -> None:
        self.rasa_port = self.rasa_port or free_port()
        self.actions_port = self.actions_port or free_port()
        self.action_ports = [free_port() for _ in range(self.action_replicas)]
        self.replica_ports = [free_port() for _ in range(self.rasa_replicas)]
        self.actions: List[subprocess.Popen] = []
        self.replicas: List[Optional[subprocess.Popen]] = []
        self.nginx: Optional[subprocess.Popen] = None
        self.startup_seconds: List[float] = []

    def replica_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.replica_ports[index]}/webhooks/rest/webhook"

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    def start(self) -> "Cluster":
        logs = self.workdir / "logs"
        try:
            for index, port in enumerate(self.action_ports):
                # The actions read the same settings (e.g. HANDOFF_ENABLED, HANDOFF_FILE) as the replicas.
                self.actions.append(start_action_server(port, logs / f"actions-{index + 1}.log", base_env(self.env)))
            conf = render_nginx_conf(self.workdir / "nginx", self.replica_ports, self.action_ports,
                                     self.rasa_port, self.actions_port)
            self.nginx = start_nginx(conf, [self.rasa_port, self.actions_port])
            for process, port in zip(self.actions, self.action_ports):
                wait_http(f"http://127.0.0.1:{port}/health", process, timeout=120)
            env = {"ACTION_SERVER_URL": f"http://127.0.0.1:{self.actions_port}/webhook", **self.env}
            started = time.monotonic()
            for index, port in enumerate(self.replica_ports):
                extra = {**env, **(self.replica_env[index] if index < len(self.replica_env) else {})}
                self.replicas.append(start_rasa(port, self.endpoints, logs / f"rasa-{index + 1}.log",
                                                scale_env(extra), model=self.model,
                                                credentials=self.credentials, entry=self.entry))
            for process, port in zip(self.replicas, self.replica_ports):
                wait_rasa(port, process)
                self.startup_seconds.append(time.monotonic() - started)
        except BaseException:
            self.stop()
            raise
        return self

    def kill_replica(self, index: int) -> None:
        stop(self.replicas[index], signal.SIGKILL)

    def stop(self) -> None:
        # nginx first: its idle keep-alive connections would hold Rasa's graceful shutdown.
        stop(self.nginx, signal.SIGQUIT, timeout=10)
        stop_all(self.replicas)
        stop_all(self.actions)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa", type=int, default=2, help="Rasa replicas (default 2)")
    parser.add_argument("--actions", type=int, default=2, help="action-server replicas (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx port in front of Rasa (default 8080)")
    parser.add_argument("--actions-port", type=int, default=0, help="nginx port in front of the action servers")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--credentials", type=Path, default=PROJECT / "credentials.yml",
                        help="channels file (default: credentials.yml: REST, the web chat at /chat/, the inbox)")
    args = parser.parse_args()
    if not args.model.exists():
        print(f"no model at {args.model}: run `make train`", file=sys.stderr)
        return 1
    cluster = Cluster(args.rasa, args.actions, rasa_port=args.port, actions_port=args.actions_port, model=args.model,
                      credentials=args.credentials)
    workers = os.environ.get("SANIC_WORKERS", "1")
    print(f"==> starting {args.actions} action servers, nginx and {args.rasa} Rasa replicas "
          f"(SANIC_WORKERS={workers}); logs in {cluster.workdir}/logs", flush=True)
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
        print(f"==> ready after {max(cluster.startup_seconds):.0f} s", flush=True)
        print(f"    Rasa via nginx:  {cluster.front_url}")
        for index in range(args.rasa):
            print(f"    replica {index + 1}:       {cluster.replica_url(index)}")
        print(f"    actions via nginx: http://127.0.0.1:{cluster.actions_port}/webhook "
              f"(replicas on {', '.join(map(str, cluster.action_ports))})")
        print(f"    try: curl -s {cluster.front_url} -d '{{\"sender\":\"demo\",\"message\":\"亲情账户多久生效\"}}'")
        print(f"    web chat:        http://127.0.0.1:{cluster.rasa_port}/chat/ (Socket.IO sticky per client address)")
        print("    Ctrl-C stops everything", flush=True)
        while True:
            time.sleep(1)
            for name, process in [("nginx", cluster.nginx)] + [(f"replica {i + 1}", p) for i, p in enumerate(cluster.replicas)]:
                if process is not None and process.poll() is not None:
                    print(f"!! {name} exited with {process.returncode}; see {cluster.workdir}/logs", flush=True)
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        print("==> stopping", flush=True)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
