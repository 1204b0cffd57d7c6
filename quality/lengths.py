"""Every answer the table can give: each question topic × account type × the slot values that change
its rows, composed as the assistant would (no NLU), with their lengths.

    python -m quality.lengths            # the figures
    python -m quality.lengths --show     # every distinct answer, longest first

Length is counted in Chinese characters (汉字) and, beside it, in all characters but spaces, source
line and follow-up question included.
"""
from __future__ import annotations

import argparse
import itertools
import re
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterator

from yibao import dialogue, state
from yibao.compose import han_length
from yibao.policy import PolicyTable, load_table
from yibao.texts import load_texts

TODAY = date(2025, 11, 20)

# Values that select different rows; None is "not told".
SLOT_VALUES: dict[str, tuple[Any, ...]] = {
    "insurance_type": (None, "职工医保", "居民医保", "灵活就业"),
    "family_insurance_type": (None, "居民医保"),
    "bind_stage": (None, "绑定失败", "已绑定"),
    "bind_date": (None, "2025-11-05", "2025-11-18", "2025-10-20", "2025-10-03"),
}
REGION_PAIRS: tuple[tuple[str | None, str | None], ...] = (
    (None, None), ("杭州", "杭州"), ("江苏", "河南"), ("内蒙古", "河北"), ("上海", "江苏"), ("北京", "河北"),
    ("浙江", "广东"), ("南京", "苏州"), ("驻马店", None),
)
# The names of table conditions each slot stands for.
NAMES_OF_SLOT = {
    "insurance_type": {"insurance_type"}, "family_insurance_type": {"family_insurance_type"},
    "bind_stage": {"bind_stage"}, "bind_date": {"bind_day", "months_since_bind", "bind_date"},
}
REGION_NAMES = {"insured_region", "treatment_region", "same_province", "both_in_pilot", "insured_province",
                "treatment_province"}


@dataclass(frozen=True)
class Case:
    topic: str
    slots: tuple[tuple[str, Any], ...]
    elsewhere: bool
    focus: tuple[str, ...] | None = None

    def label(self) -> str:
        told = ", ".join(f"{k}={v}" for k, v in self.slots if v is not None)
        return f"{self.topic}{'/' + '+'.join(self.focus) if self.focus else ''} [{told}{' 异地' if self.elsewhere else ''}]"


def visible_length(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def _names_of(table: PolicyTable, topics: tuple[str, ...]) -> set[str]:
    return {clause.name for row in table.active() if row.topic in topics for clause in row.condition} | \
        ({"region"} if any(row.region != "全国" for row in table.active() if row.topic in topics) else set())


def cases(table: PolicyTable) -> Iterator[Case]:
    """Each question topic (and the limits and pilot-list questions) with every combination of the
    slot values its rows' conditions name."""
    questions = [(topic, None) for topic in dialogue.INTENT_TOPICS] + \
        [("how_to_use", ("limits",)), ("remote_use", state.PILOT_LISTS)]
    for topic, focus in questions:
        topics = focus or dialogue.INTENT_TOPICS[topic]
        if topic in dialogue.BOTH_TYPES_INTENTS:
            topics = topics + dialogue.WHAT_IS_TOPICS
        names = _names_of(table, topics)
        slots = [slot for slot, covered in NAMES_OF_SLOT.items() if covered & names]
        regional = bool(names & (REGION_NAMES | {"region"}))
        types = (None, "亲情账户", "家庭共济")
        pairs = REGION_PAIRS if regional else ((None, None),)
        elsewheres = (False, True) if "treated_elsewhere" in names else (False,)
        for account_type, (insured, treatment), elsewhere, *values in itertools.product(
                types, pairs, elsewheres, *(SLOT_VALUES[slot] for slot in slots)):
            told = {"topic": topic, "account_type": account_type, "insured_region": insured,
                    "treatment_region": treatment, **dict(zip(slots, values))}
            yield Case(topic, tuple(told.items()), elsewhere, focus)


def answer(case: Case, table: PolicyTable, texts: dict[str, str]) -> dialogue.Turn:
    return dialogue.answer_topic(case.topic, dict(case.slots), table, texts, TODAY, focus=case.focus,
                                 elsewhere=case.elsewhere)


def answers(table: PolicyTable | None = None) -> dict[str, tuple[Case, dialogue.Turn]]:
    """Distinct answer texts that carry policy rows, each with the first case that produced it."""
    table = table or load_table()
    texts = load_texts()
    found: dict[str, tuple[Case, dialogue.Turn]] = {}
    for case in cases(table):
        turn = answer(case, table, texts)
        if turn.rows and turn.messages[0].text not in found:
            found[turn.messages[0].text] = (case, turn)
    return found


def figures(texts: list[str]) -> dict[str, float]:
    han = [han_length(text) for text in texts]
    visible = [visible_length(text) for text in texts]
    return {"answers": len(texts), "median_han": statistics.median(han), "max_han": max(han),
            "median_chars": statistics.median(visible), "max_chars": max(visible)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every distinct answer, longest first")
    args = parser.parse_args()
    found = answers()
    if args.show:
        for text, (case, _) in sorted(found.items(), key=lambda item: -han_length(item[0])):
            print(f"--- {han_length(text)} 字 / {visible_length(text)} chars  {case.label()}\n{text}\n")
    result = figures(list(found))
    print(f"{result['answers']} distinct answers: median {result['median_han']:.0f} 汉字 (max {result['max_han']}); "
          f"all characters but spaces: median {result['median_chars']:.0f} (max {result['max_chars']})")


if __name__ == "__main__":
    main()
