"""`make bench-startup`: where the start-up time of the assistant goes, and how long `make run`'s Rasa
takes from its command to the first answer. Prints figures; nothing is asserted.

    .venv/bin/python bench/startup.py [--runs 2]

Phases are timed in one fresh interpreter, in the order Rasa meets them: TensorFlow's import, the rest
of Rasa's command line, spaCy and its pipeline (build/spacy_zh), jieba with the project dictionary,
the rest of loading the model (Agent.load: unpacking, the graph, DIET's weights), the first message
(TensorFlow traces DIET's graph) and a second one. Then the whole: `python -m rasa_ext run` with the
action server already up, from the command until the REST channel answers, and until the first answer.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from deploy import cluster  # noqa: E402

QUESTION = "亲情账户绑定后多久生效"

PHASES_SCRIPT = r"""
import json, os, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import tensorflow
mark("import TensorFlow")
import rasa.__main__, rasa.core.agent, rasa.core.run
mark("import Rasa (command line, agent, server)")
import rasa_ext
rasa_ext.install()
mark("version guard and patches")
import spacy
spacy.load("build/spacy_zh")
mark("spaCy and build/spacy_zh")
import jieba
jieba.initialize()
for name in sorted(os.listdir("data/jieba")):
    jieba.load_userdict(os.path.join("data/jieba", name))
mark("jieba and its dictionary")
import asyncio
from rasa.core.agent import Agent
agent = Agent.load(sys.argv[1])
mark("rest of the model load (Agent.load)")
asyncio.run(agent.parse_message(sys.argv[2]))
mark("first message (NLU)")
asyncio.run(agent.parse_message(sys.argv[2]))
mark("second message (NLU)")
print("PHASES " + json.dumps([(name, later - earlier) for (_, earlier), (name, later) in zip(marks, marks[1:])]))
"""


def phases(model: Path) -> List[tuple]:
    result = subprocess.run([cluster.python(), "-c", PHASES_SCRIPT, str(model), QUESTION], cwd=PROJECT,
                            env=cluster.base_env(), capture_output=True, text=True, timeout=600)
    for line in result.stdout.splitlines():
        if line.startswith("PHASES "):
            return json.loads(line[len("PHASES "):])
    raise RuntimeError(f"phase run failed:\n{result.stderr[-3000:]}")


def whole(work: Path) -> Dict[str, float]:
    """`python -m rasa_ext run` from its command to the REST channel's health answer and a first answer."""
    action_port, port = cluster.free_port(), cluster.free_port()
    actions = cluster.start_action_server(action_port, work / "actions.log")
    rasa = None
    try:
        cluster.wait_http(f"http://127.0.0.1:{action_port}/health", actions, timeout=120)
        endpoints = work / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n'
            f"tracker_store:\n  type: stores.tracker_store.MaskingSQLTrackerStore\n  dialect: sqlite\n"
            f"  db: {work / 'tracker.db'}\n", encoding="utf-8")
        started = time.monotonic()
        rasa = cluster.start_rasa(port, endpoints, work / "rasa.log")
        cluster.wait_rasa(port, rasa, timeout=400)
        listening = time.monotonic() - started
        body = json.dumps({"sender": "startup", "message": QUESTION}, ensure_ascii=False).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        first = time.monotonic() - started
        if not answer:
            raise RuntimeError("no answer")
        return {"listening": listening, "first answer": first}
    finally:
        cluster.stop(rasa)
        cluster.stop(actions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--model", type=Path, default=cluster.MODEL)
    args = parser.parse_args()
    if not args.model.exists():
        print("no trained model: run `make train`", file=sys.stderr)
        return 1
    runs = [phases(args.model) for _ in range(args.runs)]
    print(f"\nStart-up phases, median of {args.runs} fresh interpreters (seconds):\n")
    print("| phase | seconds |")
    print("|---|---|")
    total = 0.0
    for index, (name, _) in enumerate(runs[0]):
        seconds = statistics.median(run[index][1] for run in runs)
        total += seconds
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **sum** | **{total:.1f}** |")
    with tempfile.TemporaryDirectory(prefix="yibao-startup-") as folder:
        wholes = [whole(Path(folder) / f"run{n}") for n in range(args.runs)]
    print(f"\n`python -m rasa_ext run` (make run's Rasa), median of {args.runs}:\n")
    for key in ("listening", "first answer"):
        print(f"- command → {key}: {statistics.median(w[key] for w in wholes):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
