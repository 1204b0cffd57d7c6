"""Build the project's Chinese spaCy pipeline from data/: a blank `zh` pipeline whose entity ruler
knows every province and prefecture-level city (and their short names and aliases) and the entity
synonyms of data/nlu/synonyms.yml. Rasa loads it through SpacyNLP; SpacyEntityExtractor reports
its entities.

Usage: python scripts/build_spacy_pipeline.py OUTPUT_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import spacy
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from yibao.regions import iter_pattern_names  # noqa: E402



def synonym_patterns() -> list[dict[str, str]]:
    """Entity-ruler patterns for every synonym and canonical value of the slot-like entities."""
    path = PROJECT_DIR / "data" / "nlu" / "synonyms.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    canonical_entity = {"亲情账户": "account_type", "家庭共济": "account_type", "职工医保": "insurance_type",
                        "居民医保": "insurance_type", "灵活就业": "insurance_type", "父母": "relation",
                        "配偶": "relation", "子女": "relation", "兄弟姐妹": "relation", "祖父母": "relation",
                        "孙子女": "relation"}
    patterns = []
    for block in document.get("nlu", []) or []:
        value = block.get("synonym")
        entity = canonical_entity.get(value)
        if not entity:
            continue
        examples = [line[2:].strip() for line in str(block.get("examples", "")).splitlines() if line.strip().startswith("- ")]
        for text in {value, *examples}:
            # One-character words (娃, 妈) are too ambiguous for a ruler; DIET handles them in context.
            if len(text) >= 2:
                patterns.append({"label": entity, "pattern": text})
    return patterns


def build(output: Path) -> None:
    nlp = spacy.blank("zh")  # character segmentation: patterns match whatever jieba would have cut
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "ORTH"})
    patterns = [{"label": "region", "pattern": name} for name, _ in iter_pattern_names()]
    patterns += synonym_patterns()
    ruler.add_patterns(patterns)
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    print(f"spaCy pipeline with {len(patterns)} patterns written to {output}")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else PROJECT_DIR / "build" / "spacy_zh"))
