"""Automated moderation: what a spoken sentence scores per policy category.

A final transcript segment is screened as ``text → scores per category → the
categories whose score reaches their threshold``; each of those becomes a
``SegmentFlagged`` event that a human reviews. The screen only surfaces risky
speech, it never acts on it: thresholds trade a moderator's time against missed
abuse, so they are data (``Thresholds``), not constants in the code.

The statistical models are injected as plain callables, so this module imports
no scikit-learn or joblib and runs the same in the ASR worker, in replay and in
tests (``streams/moderation_model.py`` adapts the real models):

* ``profanity``: the probability that the text is profane (alt-profanity-check);
* ``harassment``: profanity aimed at a person. Swearing about the weather is not
  harassment, "you are an idiot" is. The cue is deliberately simple: the text is
  cut into clauses (at punctuation and at "and"/"but"/"so"), and harassment is
  the highest profanity probability among the clauses that address someone in
  the second person ("you", "your", "yourself", …). A clause without such a cue
  contributes nothing;
* trainable categories (``hate``, ``threat``): probabilities from a classifier
  trained on labelled sentences (``stoa moderation train``);
* term lists (e.g. ``self_harm``, ``spam``): 1.0 when a listed word or phrase
  occurs as whole words, else 0.0. They cover what is too rare to train for and
  what operators need to change without retraining.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

Probability = Callable[[str], float]
"""A model that answers the probability, in [0, 1], that a text is in one category."""

Classifier = Callable[[str], Mapping[str, float]]
"""A model that answers a probability per category it was trained for."""

Thresholds = Mapping[str, float]
"""The score from which a category flags; a category without one never flags."""

Flag = tuple[str, float]
"""A category that passed its threshold, with the score it reached."""

PROFANITY = "profanity"
HARASSMENT = "harassment"

_YOU = ("you", "your", "yours", "yourself", "yourselves", "you're", "youre")
_YOU_INFORMAL = ("ya", "u", "ur", "y'all", "yall")
SECOND_PERSON = frozenset(_YOU + _YOU_INFORMAL)
"""Words that address the listener: what turns profanity into harassment."""

_CLAUSE_BREAK = re.compile(r"[.,;:!?\n]+|\b(?:and|but|so|because)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z']+")


def clauses(text: str) -> list[str]:
    """The text cut where one spoken statement likely ends and another starts.

    ASR output has little punctuation, so conjunctions count as breaks too:
    "you are an idiot and I love this song" addresses the listener only in its
    first half.
    """
    return [part.strip() for part in _CLAUSE_BREAK.split(text) if part.strip()]


def addresses_someone(clause: str) -> bool:
    """Whether the clause speaks to a person in the second person."""
    return any(word in SECOND_PERSON for word in _WORD.findall(clause.lower()))


def harassment(text: str, profanity: Probability) -> float:
    """The highest profanity probability among the clauses that address someone."""
    targeted = [c for c in clauses(text) if addresses_someone(c)]
    return max((profanity(c) for c in targeted), default=0.0)


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any term as whole words.

    Spaces inside a term match any run of whitespace, since transcripts are not
    consistent about them. ``None`` for an empty list.
    """
    alternatives = [
        r"\s+".join(re.escape(word) for word in term.lower().split())
        for term in terms
        if term.strip()
    ]
    if not alternatives:
        return None
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Screener:
    """Scores text for every category it knows; built once, used per segment."""

    profanity: Probability
    classifier: Classifier
    term_lists: Mapping[str, Iterable[str]] = field(default_factory=dict)
    _patterns: dict[str, re.Pattern[str] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = {category: term_pattern(terms) for category, terms in self.term_lists.items()}
        object.__setattr__(self, "_patterns", patterns)

    def score(self, text: str) -> dict[str, float]:
        """A score in [0, 1] per category: profanity, harassment, trained, term lists."""
        scores = {
            PROFANITY: self.profanity(text) if text.strip() else 0.0,
            HARASSMENT: harassment(text, self.profanity),
        }
        scores.update({k: float(v) for k, v in self.classifier(text).items()})
        for category, pattern in self._patterns.items():
            hit = pattern is not None and pattern.search(text) is not None
            scores[category] = max(scores.get(category, 0.0), 1.0 if hit else 0.0)
        return scores

    def flags(self, text: str, thresholds: Thresholds) -> list[Flag]:
        """The categories of ``text`` that reach their threshold, highest score first."""
        return passing(self.score(text), thresholds)


def passing(scores: Mapping[str, float], thresholds: Thresholds) -> list[Flag]:
    """The categories whose score reaches their threshold, highest score first.

    A category without a threshold never flags: adding a term list or a trained
    category does not start flooding the moderator queue until someone sets one.
    """
    hits = [
        (category, score)
        for category, score in scores.items()
        if category in thresholds and score >= thresholds[category]
    ]
    return sorted(hits, key=lambda hit: (-hit[1], hit[0]))
