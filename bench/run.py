"""`make bench`: speed, memory and NLU quality of this assistant against a stock `rasa init` assistant
and two NLU baselines, all trained and measured in this one run. Figures are printed and written to
bench/results/latest.md (and .json); nothing is asserted.

    .venv/bin/python bench/run.py [--quick] [--workdir DIR] [--skip-nlu] [--no-scale] [--rounds N]

1. Trains a stock `rasa init --no-prompt` assistant and Rasa's default NLU pipeline
   (WhitespaceTokenizer ...) on a copy of data/nlu/, in a temporary folder.
2. Starts, one after the other, the stock assistant (`rasa run` as `rasa init` made it), this
   assistant as `make run` starts it (the action server, the tracker store of endpoints.yml on a
   temporary SQLite file, the REST channel) and the scale profile (two Rasa replicas and two action
   servers behind nginx, PostgreSQL + Redis), timing each one's start-up to its first answer.
3. Loads /webhooks/rest/webhook of each with 1 user, 16 and 64 concurrent users, in rounds: every
   round measures every assistant at every level, so that a slow minute of this shared machine falls
   on all of them alike. Latencies are pooled over the rounds (p50, p95); throughput is all answers
   over all loaded seconds, and the spread of the rounds is shown. Resident memory of each process
   tree is read from /proc at the end.
4. Intent accuracy and macro-F1 on tests/nlu/heldout.yml for our pipeline, the Whitespace default
   pipeline and TF-IDF + logistic regression (bench/nlu_quality.py).

Every server listens on 127.0.0.1 on a free port and is stopped at the end; every load is bounded in
requests and seconds.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import yaml

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from bench.load import LoadResult, load  # noqa: E402
from deploy.cluster import (MODEL, VENV_BIN, base_env, free_port, rss_mib, start_action_server,  # noqa: E402
                            start_rasa, stop, wait_http)

RESULTS = PROJECT / "bench" / "results"

# A conversation of this assistant: every turn goes through the action server (policy table answers),
# and every second turn needs the slots stored by the one before.
OUR_SCRIPT = ["亲情账户绑定后多久生效", "我是10月16号绑的", "我在江苏参保,我爸在河南,家庭共济能用吗", "那上海呢?",
              "医保卡有余额为什么不能用", "我是居民医保"]
# A conversation of the stock `rasa init` assistant (its own training examples' wording).
STOCK_SCRIPT = ["hello", "I am sad", "yes", "great", "are you a bot?", "bye"]

# users: (at most requests, at most seconds) in one round
LEVELS: Dict[int, Tuple[int, float]] = {1: (100, 60), 16: (2000, 15), 64: (2000, 15)}
QUICK_LEVELS: Dict[int, Tuple[int, float]] = {1: (40, 30), 16: (400, 6), 64: (400, 6)}
ROUNDS = 3
WARMUP = 12


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> Dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    rasa_version = subprocess.run([str(VENV_BIN / "python"), "-c", "import rasa.version as v; print(v.__version__)"],
                                  capture_output=True, text=True, env=base_env()).stdout.strip()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{mem_gib:.0f} GiB",
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()), "python": platform.python_version(),
            "rasa": rasa_version, "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


def run_logged(args: List[str], log_file: Path, cwd: Path) -> float:
    started = time.monotonic()
    with open(log_file, "wb") as handle:
        code = subprocess.run(args, cwd=cwd, env=base_env(), stdout=handle, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
    if code != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({code}):\n{log_file.read_text(errors='replace')[-3000:]}")
    return time.monotonic() - started


def train_stock(work: Path) -> Tuple[Path, float]:
    folder = work / "stock"
    models = sorted((folder / "models").glob("*.tar.gz"))
    if models:
        return models[-1], float("nan")
    folder.mkdir(parents=True, exist_ok=True)
    seconds = run_logged([str(VENV_BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(folder)],
                         work / "train-stock.log", folder)
    return sorted((folder / "models").glob("*.tar.gz"))[-1], seconds


def train_whitespace(work: Path) -> Tuple[Path, float]:
    """Rasa's default NLU pipeline (its default_config.yml: WhitespaceTokenizer, count vectors,
    DIETClassifier 100 epochs ...) trained on a copy of data/nlu/."""
    folder = work / "whitespace"
    model = folder / "models" / "whitespace.tar.gz"
    if model.exists():
        return model, float("nan")
    import importlib.util

    rasa_dir = Path(importlib.util.find_spec("rasa").submodule_search_locations[0])
    default = yaml.safe_load((rasa_dir / "engine" / "recipes" / "config_files" / "default_config.yml").read_text())
    # Language as in the default config (en): WhitespaceTokenizer refuses `zh`, so Rasa's default
    # pipeline on Chinese data is this, unchanged.
    config = {"recipe": "default.v1", "assistant_id": "whitespace-baseline", "language": default["language"],
              "pipeline": default["pipeline"], "policies": []}
    shutil.rmtree(folder / "data", ignore_errors=True)
    shutil.copytree(PROJECT / "data" / "nlu", folder / "data")
    (folder / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    seconds = run_logged([str(VENV_BIN / "rasa"), "train", "nlu", "--config", "config.yml", "--nlu", "data",
                          "--out", "models", "--fixed-model-name", "whitespace"], work / "train-whitespace.log", folder)
    return model, seconds


def post(url: str, sender: str, text: str, timeout: float = 30) -> list:
    request = urllib.request.Request(url, data=json.dumps({"sender": sender, "message": text}).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def first_answer(url: str, text: str, process: subprocess.Popen, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rasa exited with {process.returncode} before answering")
        try:
            if post(url, "bench-first", text, timeout=10):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@dataclass
class Running:
    """One started assistant: where to send messages, and how to stop it."""
    name: str
    url: str
    script: Sequence[str]
    startup_s: float
    processes: List[subprocess.Popen]
    actions: List[subprocess.Popen] = field(default_factory=list)
    details: Dict = field(default_factory=dict)
    stop: Callable[[], None] = lambda: None
    results: Dict[int, List[LoadResult]] = field(default_factory=dict)


def ready(name: str, url: str, script: Sequence[str], rasa: subprocess.Popen, spawned: float) -> float:
    first_answer(url, script[0], rasa)
    startup = time.monotonic() - spawned
    log(f"{name}: first answer {startup:.1f} s after start; RSS {rss_mib(rasa.pid):.0f} MiB")
    load(url, script, 1, WARMUP, 60, tag=f"{name}-warmup")
    return startup


def start_ours(work: Path, model: Path) -> Running:
    """As `make run`: the action server, endpoints.yml's tracker store (SQLite file), REST channel."""
    folder = work / "ours"
    folder.mkdir(parents=True, exist_ok=True)
    action_port, port = free_port(), free_port()
    endpoints = yaml.safe_load((PROJECT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    if str(endpoints.get("tracker_store", {}).get("dialect", "")).startswith("sqlite"):
        endpoints["tracker_store"]["db"] = str(folder / "tracker.db")
    (folder / "endpoints.yml").write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    actions = start_action_server(action_port, folder / "actions.log")
    rasa = None
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", actions, timeout=120)
        spawned = time.monotonic()
        rasa = start_rasa(port, folder / "endpoints.yml", folder / "rasa.log", base_env(), model=model)
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        startup = ready("ours", url, OUR_SCRIPT, rasa, spawned)
    except BaseException:
        stop(rasa)
        stop(actions)
        raise
    return Running("ours", url, OUR_SCRIPT, startup, [rasa], [actions],
                   {"tracker_store": endpoints.get("tracker_store", {}).get("type", "in_memory")},
                   stop=lambda: (stop(rasa), stop(actions)))


def start_stock(work: Path, model: Path) -> Running:
    """The stock assistant as `rasa init` made it (in-memory tracker store, no action server)."""
    folder = work / "stock"
    port = free_port()
    credentials = folder / "credentials.rest.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    spawned = time.monotonic()
    # Stock: Rasa's own command, without this project's launcher and patches.
    rasa = start_rasa(port, folder / "endpoints.yml", work / "stock-rasa.log", base_env(), model=model,
                      credentials=credentials, cwd=folder, entry=[str(VENV_BIN / "rasa")])
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    try:
        startup = ready("stock", url, STOCK_SCRIPT, rasa, spawned)
    except BaseException:
        stop(rasa)
        raise
    return Running("stock", url, STOCK_SCRIPT, startup, [rasa], details={"tracker_store": "in_memory"},
                   stop=lambda: stop(rasa))


def start_scale(work: Path, model: Path, replicas: int = 2) -> Optional[Running]:
    """The scale-out profile on this machine: `replicas` Rasa replicas and two action servers behind
    nginx, PostgreSQL tracker store, Redis lock store (a fresh database and key prefix). The load goes
    through nginx."""
    from deploy.cluster import Cluster, nginx_binary, port_open

    if not (port_open(5432) and port_open(6379)) or nginx_binary() is None:
        log("scale profile skipped: PostgreSQL or Redis is not reachable on 127.0.0.1, or nginx is missing")
        return None
    tag = uuid.uuid4().hex[:8]
    db, prefix = f"yibao_bench_{tag}", f"yibaobench{tag}"
    env = {"TRACKER_DB_NAME": db, "REDIS_LOCK_DB": "2", "REDIS_KEY_PREFIX": prefix, "SANIC_WORKERS": "1"}
    cluster = Cluster(replicas, 2, workdir=work / "scale", env=env, model=model)

    def stop_cluster() -> None:
        cluster.stop()
        drop_scale_data(db, prefix)

    started = time.monotonic()
    try:
        cluster.start()
        startup = ready("scale", cluster.front_url, OUR_SCRIPT, cluster.replicas[0], started)
    except BaseException:
        stop_cluster()
        raise
    return Running("scale", cluster.front_url, OUR_SCRIPT, startup, list(cluster.replicas), list(cluster.actions),
                   {"tracker_store": "PostgreSQL", "replicas": replicas}, stop=stop_cluster)


def drop_scale_data(db: str, prefix: str) -> None:
    import psycopg2
    import redis

    connection = psycopg2.connect(dbname="postgres", host="127.0.0.1", user="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    connection.close()
    client = redis.Redis(host="127.0.0.1", port=6379, db=2)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def measure_rounds(running: List[Running], levels: Dict[int, Tuple[int, float]], rounds: int) -> None:
    """Every round loads every assistant at every level, one after the other."""
    for number in range(1, rounds + 1):
        for users, (max_requests, max_seconds) in levels.items():
            for target in running:
                result = load(target.url, target.script, users, max_requests, max_seconds,
                              tag=f"{target.name}-r{number}")
                target.results.setdefault(users, []).append(result)
                log(f"round {number}/{rounds} {target.name:>5}: {users:>2} users: {result.requests} answers in "
                    f"{result.elapsed_s:.1f} s = {result.throughput:.1f}/s, p50 {result.p50:.0f} ms, "
                    f"p95 {result.p95:.0f} ms, errors {result.errors}"
                    + (f" ({result.first_error})" if result.errors else ""))


def pooled(results: List[LoadResult]) -> Dict:
    merged = LoadResult(results[0].users)
    for result in results:
        merged.latencies_ms.extend(result.latencies_ms)
        merged.errors += result.errors
        merged.elapsed_s += result.elapsed_s
    rates = [result.throughput for result in results]
    return {"requests": merged.requests, "errors": merged.errors, "seconds": merged.elapsed_s,
            "throughput": merged.throughput, "p50_ms": merged.p50, "p95_ms": merged.p95,
            "round_throughputs": rates}


def summary(target: Running) -> Dict:
    return {
        "startup_s": target.startup_s,
        "rss_rasa_mib": sum(rss_mib(process.pid) for process in target.processes),
        "rss_actions_mib": sum(rss_mib(process.pid) for process in target.actions),
        "levels": {users: pooled(results) for users, results in target.results.items()},
        **target.details,
    }


def nlu_quality(whitespace_model: Optional[Path]) -> Dict:
    from bench import nlu_quality as nq

    examples = nq.heldout_examples()
    results = {"messages": len(examples), "intents": len({intent for _, intent in examples})}
    log(f"NLU: held-out set of {len(examples)} messages")
    results["ours"] = nq.evaluate_rasa(MODEL_COPY[0], examples)
    if whitespace_model is not None:
        results["whitespace_default"] = nq.evaluate_rasa(whitespace_model, examples)
    results["tfidf_logreg"] = nq.evaluate_tfidf(nq.training_examples(), examples)
    return results


MODEL_COPY: List[Path] = [MODEL]


ROW_LABELS = {
    "ours": "this assistant (`make run`)",
    "stock": "stock `rasa init`",
    "scale": "scale profile",
}
ROW_SETUP = {
    "ours": "action server, SQLite tracker store (endpoints.yml), 1 Rasa process",
    "stock": "no action server, in-memory tracker store, 1 Rasa process",
    "scale": "endpoints.scale.yml: 2 Rasa replicas + 2 action servers behind nginx, PostgreSQL + Redis",
}


def fmt_level(level: Dict) -> str:
    rates = level.get("round_throughputs") or []
    spread = f" ({min(rates):.0f}–{max(rates):.0f})" if len(rates) > 1 else ""
    return f"{level['throughput']:.1f}/s{spread}, {level['p50_ms']:.0f} / {level['p95_ms']:.0f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(data: Dict) -> str:
    info = data["machine"]
    rows = [key for key in ("ours", "stock", "scale") if data.get(key)]
    stock = data["stock"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {info['date']} by `make bench` (bench/run.py{' --quick' if data['quick'] else ''}) on "
        f"{info['cores']} cores ({info['cpu']}), {info['memory']}, Python {info['python']}, Rasa {info['rasa']}; "
        f"load average before the run: {info['load_before']}. Client, servers and stores share the same "
        f"2 cores (and other work shared the machine): the figures are noisy, compare them within one run.",
        "",
        "## Speed and memory",
        "",
        "REST channel (`/webhooks/rest/webhook`), closed loop: each simulated user sends its next message "
        "when the previous one is answered; each user starts a new conversation every 6 messages. "
        f"{data.get('rounds', 1)} interleaved round(s): each round loads every column at every level. "
        "Cells: answers per second over all rounds (slowest–fastest round), p50 / p95 latency of all "
        "answers.",
        "",
        "| | " + " | ".join(ROW_LABELS[key] for key in rows) + " |",
        "|---|" + "---|" * len(rows),
        "| set-up | " + " | ".join(ROW_SETUP[key] for key in rows) + " |",
        "| start-up to first answer | " + " | ".join(f"{data[key]['startup_s']:.0f} s" for key in rows) + " |",
        "| resident memory after the load | " + " | ".join(
            f"{data[key]['rss_rasa_mib']:.0f} MiB" + (f" + actions {data[key]['rss_actions_mib']:.0f} MiB"
                                                      if data[key]['rss_actions_mib'] else "") for key in rows) + " |",
    ]
    for users in sorted(stock["levels"], key=int):
        count = "/".join(str(data[key]["levels"][users]["requests"]) for key in rows)
        lines.append(f"| {users} user{'s' if int(users) > 1 else ''} ({count} answers) | "
                     + " | ".join(fmt_level(data[key]["levels"][users]) for key in rows) + " |")
    errors = sum(level["errors"] for key in rows for level in data[key]["levels"].values())
    lines += ["", f"Failed requests in all runs: {errors}.", "",
              "| target | " + " | ".join(ROW_LABELS[key] for key in rows if key != "stock") + " |",
              "|---|" + "---|" * (len(rows) - 1)]

    def ratio(key: str, users) -> float:
        base = stock["levels"][users]["throughput"]
        return data[key]["levels"][users]["throughput"] / base if base else float("nan")

    ours_rows = [key for key in rows if key != "stock"]
    lines.append("| 16 users: at least 2x the stock throughput | " + " | ".join(
        f"{ratio(key, 16):.2f}x, {verdict(ratio(key, 16) >= 2)}" for key in ours_rows) + " |")
    lines.append("| 16 users: p95 under 300 ms | " + " | ".join(
        f"{data[key]['levels'][16]['p95_ms']:.0f} ms, {verdict(data[key]['levels'][16]['p95_ms'] < 300)}"
        for key in ours_rows) + " |")
    lines.append("| 1 user: p95 under 100 ms | " + " | ".join(
        f"{data[key]['levels'][1]['p95_ms']:.0f} ms, {verdict(data[key]['levels'][1]['p95_ms'] < 100)}"
        for key in ours_rows) + " |")
    lines.append("| 64 users: throughput vs stock | " + " | ".join(f"{ratio(key, 64):.2f}x" for key in ours_rows) + " |")
    nlu = data.get("nlu")
    if nlu:
        lines += [
            "",
            f"## NLU quality (tests/nlu/heldout.yml: {nlu['messages']} messages, {nlu['intents']} intents; "
            "every pipeline trained on data/nlu/)",
            "",
            "| pipeline | accuracy | macro-F1 | top-intent accuracy | top-intent macro-F1 | fallback | ms / message |",
            "|---|---|---|---|---|---|---|",
        ]
        names = {"ours": "this pipeline (config.yml: spaCy ruler + jieba + DIET)",
                 "whitespace_default": "Rasa's default pipeline (WhitespaceTokenizer, DIET 100 epochs)",
                 "tfidf_logreg": "TF-IDF char 1-3-grams + logistic regression (scikit-learn)"}
        for key, label in names.items():
            if key in nlu:
                r = nlu[key]
                lines.append(f"| {label} | {r['deployed_accuracy']:.3f} | {r['deployed_macro_f1']:.3f} | "
                             f"{r['top_accuracy']:.3f} | {r['top_macro_f1']:.3f} | {r['fallback_rate']:.1%} | "
                             f"{r['parse_ms']:.2f} |")
        lines += ["", "accuracy / macro-F1: the intent the assistant acts on (Rasa's FallbackClassifier answer "
                  "`nlu_fallback` counts as a miss); top-intent: the best-ranked real intent, fallback ignored. "
                  "ms / message: NLU parse in one process, no HTTP."]
    training = {k: v for k, v in data.get("training", {}).items() if v == v}
    if training:
        lines += ["", "Training in this run: " + ", ".join(f"{k} {v:.0f} s" for k, v in training.items()) + "."]
    lines += ["", f"Whole run: {data.get('seconds', 0) / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads (a smoke run, not for figures)")
    parser.add_argument("--workdir", type=Path, help="keep trained baselines here and reuse them")
    parser.add_argument("--skip-nlu", action="store_true", help="speed and memory only")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale profile (PostgreSQL + Redis + nginx)")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds (default {ROUNDS}, 1 with --quick)")
    args = parser.parse_args()
    if not MODEL.exists():
        print("no trained model: run `make train`", file=sys.stderr)
        return 1
    levels = QUICK_LEVELS if args.quick else LEVELS
    work = args.workdir or Path(tempfile.mkdtemp(prefix="yibao-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data: Dict = {"machine": machine(), "quick": args.quick, "training": {},
                  "rounds": max(1, args.rounds or (1 if args.quick else ROUNDS))}
    log(f"work folder {work}; machine {data['machine']}")
    started = time.monotonic()
    try:
        model = work / "yibao.tar.gz"
        shutil.copyfile(MODEL, model)  # a retrain elsewhere cannot change the model mid-run
        MODEL_COPY[0] = model
        log("training the stock `rasa init` assistant")
        stock_model, data["training"]["stock rasa init"] = train_stock(work)
        whitespace_model = None
        if not args.skip_nlu:
            log("training Rasa's default (WhitespaceTokenizer) NLU pipeline on data/nlu")
            whitespace_model, data["training"]["whitespace NLU"] = train_whitespace(work)
        running: List[Running] = []
        try:
            log("starting the stock assistant")
            running.append(start_stock(work, stock_model))
            log("starting this assistant (as `make run`)")
            running.append(start_ours(work, model))
            if not args.no_scale:
                log("starting the scale profile (2 replicas behind nginx, PostgreSQL + Redis)")
                scale = start_scale(work, model)
                if scale is not None:
                    running.append(scale)
            measure_rounds(running, levels, data["rounds"])
            for target in running:
                data[target.name] = summary(target)
        finally:
            for target in running:
                target.stop()
        if not args.skip_nlu:
            data["nlu"] = nlu_quality(whitespace_model)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    data["seconds"] = time.monotonic() - started
    text = report(data)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text, encoding="utf-8")
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    print()
    print(text)
    log(f"done in {data['seconds'] / 60:.1f} min; written to {RESULTS / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
