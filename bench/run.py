"""`make bench`: speed, memory and NLU quality of this assistant against a stock `rasa init` assistant
and two NLU baselines, all trained and measured in this one run. Figures are printed and written to
bench/results/latest.md (and .json); nothing is asserted.

    .venv/bin/python bench/run.py [--quick] [--workdir DIR] [--skip-nlu]

1. Trains a stock `rasa init --no-prompt` assistant and Rasa's default NLU pipeline
   (WhitespaceTokenizer ...) on a copy of data/nlu/, in a temporary folder.
2. For each assistant: starts it (ours as `make run` does: the action server, the tracker store of
   endpoints.yml on a temporary SQLite file, the REST channel; stock: `rasa run` as `rasa init` made
   it), times the start-up to the first answer, then loads /webhooks/rest/webhook with 1 user
   (200 requests), 16 and 64 concurrent users (20 s or 3,000 requests each), and reads the resident
   memory of the process trees from /proc.
3. Intent accuracy and macro-F1 on tests/nlu/heldout.yml for our pipeline, the Whitespace default
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
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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

# users: (at most requests, at most seconds)
LEVELS: Dict[int, Tuple[int, float]] = {1: (200, 120), 16: (3000, 20), 64: (3000, 20)}
QUICK_LEVELS: Dict[int, Tuple[int, float]] = {1: (40, 30), 16: (400, 6), 64: (400, 6)}
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
    config = {"recipe": "default.v1", "assistant_id": "whitespace-baseline", "language": "zh",
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


def measure(name: str, url: str, script: Sequence[str], rasa: subprocess.Popen, spawned: float,
            levels: Dict[int, Tuple[int, float]], actions: Optional[subprocess.Popen] = None) -> Dict:
    first_answer(url, script[0], rasa)
    startup = time.monotonic() - spawned
    log(f"{name}: first answer {startup:.1f} s after start; RSS {rss_mib(rasa.pid):.0f} MiB")
    rss_idle = rss_mib(rasa.pid)
    load(url, script, 1, WARMUP, 60, tag=f"{name}-warmup")
    runs: Dict[int, LoadResult] = {}
    for users, (max_requests, max_seconds) in levels.items():
        result = load(url, script, users, max_requests, max_seconds, tag=name)
        runs[users] = result
        log(f"{name}: {users:>2} users: {result.requests} answers in {result.elapsed_s:.1f} s = "
            f"{result.throughput:.1f}/s, p50 {result.p50:.0f} ms, p95 {result.p95:.0f} ms, errors {result.errors}"
            + (f" ({result.first_error})" if result.errors else ""))
    return {
        "startup_s": startup,
        "rss_rasa_idle_mib": rss_idle,
        "rss_rasa_mib": rss_mib(rasa.pid),
        "rss_actions_mib": rss_mib(actions.pid) if actions else 0.0,
        "levels": {users: {"requests": r.requests, "errors": r.errors, "seconds": r.elapsed_s,
                           "throughput": r.throughput, "p50_ms": r.p50, "p95_ms": r.p95}
                   for users, r in runs.items()},
    }


def bench_ours(work: Path, model: Path, levels: Dict[int, Tuple[int, float]]) -> Dict:
    """As `make run`: the action server, endpoints.yml's tracker store (SQLite file), REST channel."""
    folder = work / "ours"
    folder.mkdir(parents=True, exist_ok=True)
    action_port, port = free_port(), free_port()
    endpoints = yaml.safe_load((PROJECT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    if str(endpoints.get("tracker_store", {}).get("dialect", "")).startswith("sqlite"):
        endpoints["tracker_store"]["db"] = str(folder / "tracker.db")
    (folder / "endpoints.yml").write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    started = time.monotonic()
    actions = start_action_server(action_port, folder / "actions.log")
    rasa = None
    try:
        wait_http(f"http://127.0.0.1:{action_port}/health", actions, timeout=120)
        actions_startup = time.monotonic() - started
        spawned = time.monotonic()
        rasa = start_rasa(port, folder / "endpoints.yml", folder / "rasa.log", base_env(), model=model)
        result = measure("ours", f"http://127.0.0.1:{port}/webhooks/rest/webhook", OUR_SCRIPT, rasa, spawned,
                         levels, actions)
        result["actions_startup_s"] = actions_startup
        result["tracker_store"] = endpoints.get("tracker_store", {}).get("type", "in_memory")
        return result
    finally:
        stop(rasa)
        stop(actions)


def bench_stock(work: Path, model: Path, levels: Dict[int, Tuple[int, float]]) -> Dict:
    """The stock assistant as `rasa init` made it (in-memory tracker store, no action server)."""
    folder = work / "stock"
    port = free_port()
    credentials = folder / "credentials.rest.yml"
    credentials.write_text("rest:\n", encoding="utf-8")
    spawned = time.monotonic()
    rasa = start_rasa(port, folder / "endpoints.yml", work / "stock-rasa.log", base_env(), model=model,
                      credentials=credentials, cwd=folder)
    try:
        result = measure("stock", f"http://127.0.0.1:{port}/webhooks/rest/webhook", STOCK_SCRIPT, rasa, spawned,
                         levels)
        result["tracker_store"] = "in_memory"
        return result
    finally:
        stop(rasa)


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


def fmt_level(level: Dict) -> str:
    return f"{level['throughput']:.1f}/s, p50 {level['p50_ms']:.0f} / p95 {level['p95_ms']:.0f} ms"


def report(data: Dict) -> str:
    ours, stock, info = data["ours"], data["stock"], data["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {info['date']} by `make bench` (bench/run.py{' --quick' if data['quick'] else ''}) on "
        f"{info['cores']} cores ({info['cpu']}), {info['memory']}, Python {info['python']}, Rasa {info['rasa']}; "
        f"load average before the run: {info['load_before']}. Other work shared the machine: figures are noisy.",
        "",
        "## Speed and memory (REST channel, closed loop: each user sends when answered)",
        "",
        "| | this assistant | stock `rasa init` |",
        "|---|---|---|",
        f"| what is measured | action server + `{ours['tracker_store'].rsplit('.', 1)[-1]}` (SQLite) | in-memory tracker, no action server |",
        f"| start-up to first answer | {ours['startup_s']:.1f} s (action server {ours['actions_startup_s']:.1f} s before) | {stock['startup_s']:.1f} s |",
        f"| resident memory after load | Rasa {ours['rss_rasa_mib']:.0f} MiB + actions {ours['rss_actions_mib']:.0f} MiB | Rasa {stock['rss_rasa_mib']:.0f} MiB |",
    ]
    for users in sorted(ours["levels"], key=int):
        o, s = ours["levels"][users], stock["levels"][users]
        lines.append(f"| {users} user{'s' if int(users) > 1 else ''} ({o['requests']} / {s['requests']} requests) "
                     f"| {fmt_level(o)} | {fmt_level(s)} |")
    o16, s16, o1 = ours["levels"][16], stock["levels"][16], ours["levels"][1]
    ratio = o16["throughput"] / s16["throughput"] if s16["throughput"] else float("nan")
    ratio64 = ours["levels"][64]["throughput"] / stock["levels"][64]["throughput"] if stock["levels"][64]["throughput"] else float("nan")
    errors = sum(level["errors"] for a in (ours, stock) for level in a["levels"].values())
    lines += [
        "",
        f"Throughput ratio (this / stock): **{ratio:.2f}x** at 16 users, {ratio64:.2f}x at 64 users. "
        f"Failed requests: {errors}.",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| 16 users: at least 2x the stock throughput | {ratio:.2f}x | {'met' if ratio >= 2 else 'missed'} |",
        f"| 16 users: p95 under 300 ms | {o16['p95_ms']:.0f} ms | {'met' if o16['p95_ms'] < 300 else 'missed'} |",
        f"| 1 user: p95 under 100 ms | {o1['p95_ms']:.0f} ms | {'met' if o1['p95_ms'] < 100 else 'missed'} |",
    ]
    nlu = data.get("nlu")
    if nlu:
        lines += [
            "",
            f"## NLU quality (tests/nlu/heldout.yml: {nlu['messages']} messages, {nlu['intents']} intents; "
            "all trained on data/nlu/)",
            "",
            "| pipeline | accuracy | macro-F1 | top-intent accuracy | top-intent macro-F1 | fallback | ms / message |",
            "|---|---|---|---|---|---|---|",
        ]
        names = {"ours": "this pipeline (spaCy ruler + jieba + DIET)",
                 "whitespace_default": "Rasa default pipeline (WhitespaceTokenizer)",
                 "tfidf_logreg": "TF-IDF char 1-3-grams + logistic regression"}
        for key, label in names.items():
            if key in nlu:
                r = nlu[key]
                lines.append(f"| {label} | {r['deployed_accuracy']:.3f} | {r['deployed_macro_f1']:.3f} | "
                             f"{r['top_accuracy']:.3f} | {r['top_macro_f1']:.3f} | {r['fallback_rate']:.1%} | "
                             f"{r['parse_ms']:.2f} |")
        lines += ["", "accuracy / macro-F1: the intent the assistant acts on (a FallbackClassifier "
                  "`nlu_fallback` counts as a miss); top-intent: the best real intent, fallback ignored."]
    training = data.get("training", {})
    if training:
        lines += ["", "Training in this run: " + ", ".join(f"{k} {v:.0f} s" for k, v in training.items() if v == v) + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads (a smoke run, not for figures)")
    parser.add_argument("--workdir", type=Path, help="keep trained baselines here and reuse them")
    parser.add_argument("--skip-nlu", action="store_true", help="speed and memory only")
    args = parser.parse_args()
    if not MODEL.exists():
        print("no trained model: run `make train`", file=sys.stderr)
        return 1
    levels = QUICK_LEVELS if args.quick else LEVELS
    work = args.workdir or Path(tempfile.mkdtemp(prefix="yibao-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data: Dict = {"machine": machine(), "quick": args.quick, "training": {}}
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
        log("measuring this assistant")
        data["ours"] = bench_ours(work, model, levels)
        log("measuring the stock assistant")
        data["stock"] = bench_stock(work, stock_model, levels)
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
