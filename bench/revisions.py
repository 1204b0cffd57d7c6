"""`make bench-compare BEFORE=<git revision>`: this assistant at an earlier revision against the working
tree, both serving the same trained model, measured in interleaved rounds; or
`make bench-compare OFF=<patch>`: the working tree without one patch of rasa_ext/ against the working
tree with all of them (how each patch's gain in docs/benchmarks.md is measured). Prints answers per second,
p95 and the CPU time the Rasa process and the action server spent per message (from /proc), which
varies less than throughput on a shared machine. Nothing is asserted.

    .venv/bin/python bench/revisions.py --before 32142a5 [--rounds 3] [--seconds 12] [--users 16]
    .venv/bin/python bench/revisions.py --off graph_runner

The earlier revision is checked out into a temporary `git worktree` that borrows this checkout's
.venv, models/ and build/ (so both run the same Rasa and the same model); it is removed at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from bench.load import LoadResult, load  # noqa: E402
from bench.run import OUR_SCRIPT, first_answer, log  # noqa: E402
from deploy import cluster  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checkout(revision: str, folder: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(folder), revision], cwd=PROJECT, check=True,
                   capture_output=True)
    for shared in (".venv", "models", "build"):
        (folder / shared).symlink_to(PROJECT / shared)
    return folder


def start(root: Path, work: Path, patches_off: str = "") -> Tuple[subprocess.Popen, subprocess.Popen, str]:
    """The action server and `rasa run` of the tree at `root`, on a fresh SQLite tracker store."""
    work.mkdir(parents=True, exist_ok=True)
    env = cluster.base_env({"YIBAO_PATCHES_OFF": patches_off})
    env["PYTHONPATH"] = str(root)
    action_port, port = cluster.free_port(), cluster.free_port()
    endpoints = yaml.safe_load((root / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{action_port}/webhook"
    endpoints["tracker_store"]["db"] = str(work / "tracker.db")
    (work / "endpoints.yml").write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    actions = cluster._spawn(cluster.action_server_command(action_port), env, work / "actions.log", cwd=root)
    cluster.wait_http(f"http://127.0.0.1:{action_port}/health", actions, timeout=120)
    # An earlier tree may predate the launcher (rasa_ext/): then it is started as it was, with `rasa`.
    entry = None if (root / "rasa_ext" / "__main__.py").exists() else [str(cluster.VENV_BIN / "rasa")]
    rasa = cluster.start_rasa(port, work / "endpoints.yml", work / "rasa.log", env, model=cluster.MODEL, cwd=root,
                              entry=entry)
    return rasa, actions, f"http://127.0.0.1:{port}/webhooks/rest/webhook"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--before", help="the earlier git revision")
    which.add_argument("--off", help="a patch of rasa_ext.PATCHES to leave out (comma-separated for several)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0, help="load per round and revision")
    parser.add_argument("--users", type=int, default=16)
    args = parser.parse_args()
    if not cluster.MODEL.exists():
        print("no trained model: run `make train`", file=sys.stderr)
        return 1
    temp = Path(tempfile.mkdtemp(prefix="yibao-revisions-"))
    processes: List[subprocess.Popen] = []
    servers: Dict[str, Tuple[subprocess.Popen, subprocess.Popen, str]] = {}
    try:
        if args.off:
            runs = {f"without {args.off}": (PROJECT, args.off), "with every patch": (PROJECT, "")}
        else:
            runs = {f"before ({args.before})": (checkout(args.before, temp / "before"), ""),
                    "after (working tree)": (PROJECT, "")}
        for name, (root, off) in runs.items():
            log(f"starting {name}")
            rasa, actions, url = start(root, temp / f"work-{len(servers)}", off)
            processes += [rasa, actions]
            first_answer(url, OUR_SCRIPT[0], rasa)
            load(url, OUR_SCRIPT, 1, 30, 60, tag="warmup")
            servers[name] = (rasa, actions, url)
        totals = {name: (LoadResult(args.users), [0.0, 0.0]) for name in servers}
        for number in range(1, args.rounds + 1):
            for name, (rasa, actions, url) in servers.items():
                rasa_cpu, actions_cpu = cpu_seconds(rasa.pid), cpu_seconds(actions.pid)
                result = load(url, OUR_SCRIPT, args.users, 100_000, args.seconds, tag=f"r{number}")
                merged, cpu = totals[name]
                merged.latencies_ms += result.latencies_ms
                merged.elapsed_s += result.elapsed_s
                merged.errors += result.errors
                cpu[0] += cpu_seconds(rasa.pid) - rasa_cpu
                cpu[1] += cpu_seconds(actions.pid) - actions_cpu
                log(f"round {number}/{args.rounds} {name}: {result.throughput:.1f}/s, p95 {result.p95:.0f} ms")
        print(f"\n{args.users} users, {args.rounds} interleaved rounds of {args.seconds:g} s, same model:\n")
        print("| revision | answers/s | p50 / p95 | Rasa CPU per message | action server CPU per message | errors |")
        print("|---|---|---|---|---|---|")
        for name, (merged, (rasa_cpu, actions_cpu)) in totals.items():
            count = max(1, merged.requests)
            print(f"| {name} | {merged.throughput:.1f} | {merged.p50:.0f} / {merged.p95:.0f} ms | "
                  f"{1000 * rasa_cpu / count:.1f} ms | {1000 * actions_cpu / count:.1f} ms | {merged.errors} |")
    finally:
        for process in processes:
            cluster.stop(process)
        subprocess.run(["git", "worktree", "remove", "--force", str(temp / "before")], cwd=PROJECT,
                       capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
