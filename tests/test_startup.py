"""The start-up patch (rasa_ext/model_load.py) loads the trained model without tracing a training step,
and the loaded model answers exactly as the one Rasa's own loading builds."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from servers import MODEL, PROJECT, cluster

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

MESSAGES = ["亲情账户绑定后多久生效", "我在杭州参保 我妈在河南能共济吗", "支付宝亲情卡怎么开", "我16号绑的亲情账户咋还用不了",
            "河南", "月底", "那上海呢", "能在我手机上给我妈亮码的那个", "转人工", "居民医保啥时候生效"]

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from rasa.core.agent import Agent
    import rasa_ext.model_load

    def answers(agent):
        out = []
        for text in json.loads(sys.argv[2]):
            parsed = asyncio.run(agent.parse_message(text))
            out.append({"intent": parsed["intent"], "ranking": parsed["intent_ranking"],
                        "entities": [(e["entity"], e["value"], e["start"], e["end"]) for e in parsed["entities"]]})
        return out

    rasa_own = answers(Agent.load(sys.argv[1]))
    rasa_ext.model_load.install()
    ours = answers(Agent.load(sys.argv[1]))
    print("RESULT " + json.dumps({"rasa": rasa_own, "ours": ours}, ensure_ascii=False))
""")


def test_the_fast_load_answers_exactly_as_rasas_own_load():
    result = subprocess.run([cluster.python(), "-c", SCRIPT, str(MODEL), json.dumps(MESSAGES, ensure_ascii=False)],
                            cwd=PROJECT, env=cluster.base_env(), capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    both = json.loads(lines[0][len("RESULT "):])
    assert len(both["ours"]) == len(MESSAGES)
    for text, rasa_own, ours in zip(MESSAGES, both["rasa"], both["ours"], strict=True):
        assert ours == rasa_own, text
