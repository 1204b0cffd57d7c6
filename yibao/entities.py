"""Turn the NLU's entities (DIET and spaCy, possibly overlapping) into slot values.

Regions get a role: 参保地 (`insured`) or 就医地 (`treatment`). DIET may already have predicted one;
the words around the place name decide when it has not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from yibao import dates, regions, understanding
from yibao.policy import ACCOUNT_TYPES

INSURED = "insured"
TREATMENT = "treatment"

_INSURED_AFTER = re.compile(r"^\s*(?:市|省)?\s*(?:的)?\s*(?:参保|医保|社保|职工|居民|交的|缴|买的|上的保)")
_TREATMENT_AFTER = re.compile(
    r"^\s*(?:市|省)?\s*(?:看病|就医|住院|看|买药|拿药|用|刷|备案|生活|养老|定居|上学|打工|工作|那边|的医院|能|可以)"
)
_TREATMENT_BEFORE = re.compile(
    r"(?:妈|爸|父|母|老人|孩子|儿子|女儿|闺女|老婆|老公|爱人|媳妇|丈夫|妻子|家人|亲属|爷|奶|婆|公|姥|哥|姐|弟|妹|娃|(?<!其)他|她|们|去|到|来)\s*(?:现在|目前|一直|长期|人|住)?\s*(?:在|去|到)?\s*$"
)
_INSURED_BEFORE = re.compile(r"(?:我|本人|自己)\s*(?:是|在|的)\s*$")
# A span the NLU marked as a place is only reported as unknown when it looks like one.
_PLACE_SUFFIX = re.compile(r"(?:省|市|县|区|州|盟|旗|镇|乡|自治区)$")
FAMILY_INSURANCE = "family_insurance_type"
# A date problem (2月30号) outside the NLU's date spans is only reported in a message this short.
SHORT_DATE_MESSAGE = 20
# "交居民医保" / "代缴职工医保": an insurance type that is paid for, not the type someone has.
_PAID_FOR = re.compile(r"(?:交|缴|代缴|代交|买|续|续交|续缴)(?:的|了)?\s*$")
# The person words an insurance type can belong to, nearest first when read backwards.
_PERSON = re.compile(
    r"(?:我|俺|本人|自己)(?![妈爸父母爹娘爷奶姥婆公哥姐弟妹儿女孩家老们])|(?:妈|爸|父|母|爹|娘|老人|孩子|儿子|女儿|闺女|娃|宝宝|小孩|老婆|老公|爱人|媳妇|丈夫|妻子|老伴|家人|爷|奶|姥|外公|外婆|哥|姐|弟|妹|(?<!其)他|她)"
)


@dataclass(frozen=True)
class Mention:
    entity: str
    value: str
    start: int | None
    end: int | None
    role: str | None
    text: str


@dataclass
class Extraction:
    """What one message tells us: slot values, and what could not be understood."""

    slots: dict[str, Any] = field(default_factory=dict)
    unknown_regions: list[str] = field(default_factory=list)
    date_problem: dates.DateProblem | None = None
    conflicting: list[str] = field(default_factory=list)  # slots given two different values


def mentions_from(entities: Iterable[Mapping[str, Any]], text: str) -> list[Mention]:
    """Merge extractor outputs: one mention per span, keeping a predicted role when any extractor has it."""
    merged: dict[tuple, Mention] = {}
    for entity in entities or []:
        name = entity.get("entity")
        if not name:
            continue
        start, end = entity.get("start"), entity.get("end")
        if (
            name == "region"
            and isinstance(start, int)
            and isinstance(end, int)
            and understanding.inside_lookalike(text, start, end)
        ):
            continue
        surface = text[start:end] if isinstance(start, int) and isinstance(end, int) else str(entity.get("value", ""))
        mention = Mention(name, str(entity.get("value", surface)), start, end, entity.get("role"), surface)
        key = (name, start, end) if start is not None else (name, mention.value)
        if key not in merged or (mention.role and not merged[key].role):
            merged[key] = mention
    return sorted(merged.values(), key=lambda m: m.start if m.start is not None else 10**6)


def region_role(text: str, start: int | None, end: int | None) -> str | None:
    """参保地 or 就医地 from the words around the place name, or None when they do not tell."""
    if start is None or end is None:
        return None
    after, before = text[end : end + 6], text[max(0, start - 6) : start]
    if _INSURED_AFTER.search(after):
        return INSURED
    if _TREATMENT_BEFORE.search(before):
        return TREATMENT
    if _INSURED_BEFORE.search(before):
        return INSURED
    if _TREATMENT_AFTER.search(after):
        return TREATMENT
    return None


def insurance_owner(text: str, start: int | None) -> str | None:
    """The slot an insurance type fills: the family member's when the nearest person word before it is
    a family word (我妈是老家的居民医保), the user's otherwise; None when it is a premium being paid."""
    if start is None:
        return "insurance_type"
    before = text[max(0, start - 12) : start]
    if _PAID_FOR.search(before):
        return None
    people = list(_PERSON.finditer(before))
    if people and not re.match(r"我|俺|本人|自己", people[-1].group(0)):
        return FAMILY_INSURANCE
    return "insurance_type"


def account_type_of(mention: Mention) -> str | None:
    """The feature a span names; a span that ran on (亲情账户18号) still names one."""
    if mention.value in ACCOUNT_TYPES:
        return mention.value
    named = understanding.named_types(mention.text or mention.value)
    return named[0] if len(named) == 1 else None


def _resolve_region(mention: Mention) -> regions.Region | None:
    found = regions.resolve(mention.value) or regions.resolve(mention.text)
    if found:
        return found
    inside = regions.find_regions(mention.text or mention.value)
    return inside[0].region if inside else None


def extract(
    text: str, entities: Iterable[Mapping[str, Any]], today: date, known: Mapping[str, Any], asked: str | None = None
) -> Extraction:
    """Slot values told by one message. `known` holds the slots already filled; `asked` is the slot the
    assistant has just asked for: a place or a date anywhere in the reply fills it."""
    result = Extraction()
    mentions = mentions_from(entities, text)
    values: dict[str, set[str]] = {}
    for mention in mentions:
        if mention.entity == "account_type":
            kind = account_type_of(mention)
            if kind:
                values.setdefault("account_type", set()).add(kind)
        elif mention.entity == "insurance_type":
            owner = insurance_owner(text, mention.start)
            if owner:
                values.setdefault(owner, set()).add(mention.value)
        elif mention.entity == "relation" and "relation" not in values:
            # The first family member named is the one the question is about ("帮孙子绑…我是他奶奶").
            values["relation"] = {mention.value}
    for kind in understanding.named_types(text):
        values.setdefault("account_type", set()).add(kind)

    for slot, told in values.items():
        if len(told) == 1:
            result.slots[slot] = next(iter(told))
        else:
            result.conflicting.append(slot)

    if asked in ("insured_region", "treatment_region"):
        places = _places(text, mentions)
        if places:
            # The answer to "在哪个省或城市参保?" is where the user is insured, whatever words surround it.
            result.slots[asked] = places[0].short
            other = "treatment_region" if asked == "insured_region" else "insured_region"
            if len(places) > 1 and places[1].short != places[0].short:
                result.slots[other] = places[1].short
            _add_date(result, text, mentions, today, asked)
            return result

    found: list[tuple[regions.Region, str | None, str | None]] = []  # (region, role from words, NLU role)
    for mention in (m for m in mentions if m.entity == "region"):
        region = _resolve_region(mention)
        if region is None:
            surface = mention.text or mention.value
            looks_like_place = _PLACE_SUFFIX.search(surface) or region_role(text, mention.start, mention.end)
            if looks_like_place and not understanding.is_ordinary_word(surface) and not regions.find_regions(surface):
                result.unknown_regions.append(surface)
            continue
        if any(region.code == other.code for other, _, _ in found):
            continue
        found.append((region, region_role(text, mention.start, mention.end), mention.role))
    _place_regions(result, found, known, understanding.is_follow_up(text))

    _add_date(result, text, mentions, today, asked)
    return result


def _place_regions(
    result: Extraction,
    found: list[tuple[regions.Region, str | None, str | None]],
    known: Mapping[str, Any],
    follow_up: bool,
) -> None:
    """参保地 / 就医地 for each place: the words around it first, then the NLU's role, then the conversation."""
    slot_of = {INSURED: "insured_region", TREATMENT: "treatment_region"}
    other = {"insured_region": "treatment_region", "treatment_region": "insured_region"}
    left: list[tuple[regions.Region, str | None]] = []
    for region, cue_role, nlu_role in found:
        slot = slot_of.get(cue_role or "")
        if slot and slot not in result.slots:
            result.slots[slot] = region.short
        else:
            left.append((region, None if follow_up else nlu_role))
    unroled: list[regions.Region] = []
    for region, nlu_role in left:
        slot = slot_of.get(nlu_role or "")
        if slot and slot in result.slots and other[slot] not in result.slots:
            slot = other[slot]  # two places, one role said twice: the other place is the other role
        if slot and slot not in result.slots:
            result.slots[slot] = region.short
        else:
            unroled.append(region)
    for region in unroled:
        if (
            "insured_region" not in result.slots
            and not known.get("insured_region")
            and "treatment_region" in result.slots
        ):
            result.slots["insured_region"] = region.short
        elif not result.slots and known.get("insured_region") and not known.get("treatment_region"):
            # 那北京呢 after a question about being insured in 上海: the insured place changes.
            result.slots["insured_region"] = region.short
        elif "treatment_region" not in result.slots:
            # Otherwise a bare place name most often changes where the family member is (那上海呢).
            result.slots["treatment_region"] = region.short
        elif "insured_region" not in result.slots:
            result.slots["insured_region"] = region.short


def _places(text: str, mentions: list[Mention]) -> list[regions.Region]:
    """Every known place in the message, in order: the NLU's spans first, then any name in the text."""
    found: list[tuple[int, regions.Region]] = []
    for mention in (m for m in mentions if m.entity == "region"):
        region = _resolve_region(mention)
        if region is not None:
            found.append((mention.start if mention.start is not None else 0, region))
    for inside in regions.find_regions(text):
        if understanding.inside_lookalike(text, inside.start, inside.end):
            continue
        if not any(region.code == inside.region.code for _, region in found):
            found.append((inside.start, inside.region))
    return [region for _, region in sorted(found, key=lambda pair: pair[0])]


_BARE_DAY = re.compile(r"^(?:[1-9]|[12][0-9]|3[01])[。.！!]?$")


def _add_date(result: Extraction, text: str, mentions: list[Mention], today: date, asked: str | None = None) -> None:
    """The binding day: the NLU's date spans first, unless the whole text holds a longer date around one
    (要是3月18号绑的呢: the span may be only 18号). A date problem found outside the NLU's spans is only
    reported when the message is short or answers "请问是哪天绑定的" (a long message may hold other numbers)."""
    date_texts = [m.text or m.value for m in mentions if m.entity == "bind_date"]
    if asked == "bind_date" and _BARE_DAY.match(text.strip()):
        # "1" / "20" answering "请问是哪天绑定的": a day of the month, as if written 1号 / 20号.
        text = text.strip().rstrip("。.！!") + "号"
    found: dates.FoundDate | None = None
    try:
        for candidate in date_texts:
            found = dates.find_bind_date(candidate, today)
            if found:
                break
    except dates.DateProblem as problem:
        result.date_problem = problem
        return
    try:
        whole = dates.find_bind_date(text, today)
    except dates.DateProblem as problem:
        if found is None and (asked == "bind_date" or len(text) <= SHORT_DATE_MESSAGE):
            result.date_problem = problem
        whole = None
    if whole and (found is None or (found.text in whole.text and len(whole.text) > len(found.text))):
        found = whole
    if found:
        result.slots["bind_date"] = found.value.isoformat()
