"""Grouping near-duplicate questions: character n-gram TF-IDF and cosine similarity.

Short Chinese questions have no word boundaries to rely on, so texts are compared by their character
uni- and bigrams. The texts are taken most frequent first; each joins the existing group whose centroid
is most similar when that similarity reaches the threshold, else it starts a new group. Deterministic:
the same texts always give the same groups.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

DEFAULT_THRESHOLD = 0.35
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """What two texts must share to count as the same question: NFKC, lower case, no spaces/punctuation.

    Empty for a text of only punctuation, spaces or emoji: such messages are not grouped or exported.
    """
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return _NOISE.sub("", folded)


@dataclass
class Cluster:
    examples: list[tuple[str, int]] = field(default_factory=list)  # (text as first seen, count), most first

    @property
    def count(self) -> int:
        return sum(count for _, count in self.examples)

    @property
    def label(self) -> str:
        return self.examples[0][0]


def cluster_texts(texts: Iterable[str], threshold: float = DEFAULT_THRESHOLD) -> list[Cluster]:
    """Groups of near-duplicate texts, biggest first. Texts equal after `normalise` are one example."""
    first_form: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for text in texts:
        key = normalise(text)
        if not key:
            continue
        first_form.setdefault(key, text.strip())
        counts[key] += 1
    if not counts:
        return []
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    if len(keys) == 1:
        return [Cluster([(first_form[keys[0]], counts[keys[0]])])]

    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit_transform(keys)
    assignment = np.full(len(keys), -1, dtype=int)
    norm2: list[float] = []  # squared length of each cluster's sum of (unit) vectors
    for index in range(len(keys)):
        if norm2:
            similarity = (vectors[:index] @ vectors[index].T).toarray().ravel()
            dots = np.bincount(assignment[:index], weights=similarity, minlength=len(norm2))
            cosine = dots / np.sqrt(np.asarray(norm2))
            best = int(np.argmax(cosine))
            if cosine[best] >= threshold:
                assignment[index] = best
                norm2[best] += 2 * dots[best] + 1
                continue
        assignment[index] = len(norm2)
        norm2.append(1.0)

    clusters = [Cluster() for _ in norm2]
    for index, key in enumerate(keys):
        clusters[assignment[index]].examples.append((first_form[key], counts[key]))
    return sorted(clusters, key=lambda c: (-c.count, c.label))
