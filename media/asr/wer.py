"""Word error rate: the one score for every engine, test and benchmark.

Both sides are normalised the same way before words are aligned, so the score
counts recognition errors and not spelling conventions: lowercase; the
abbreviations the LibriVox references spell out ("Mr." is "mister"); digits
written as words, as the references write numbers; hyphens split words
("ill-disposed" is "ill disposed"); other punctuation removed, apostrophes
inside words kept; whitespace collapsed. Errors are the Levenshtein distance
over words, split into substitutions, deletions and insertions.
"""

import re
from dataclasses import dataclass

ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "st": "saint",
    "ok": "okay",
}
_ONES = [
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


@dataclass(frozen=True)
class WordErrors:
    """Edit counts of a hypothesis against a reference of ``words`` words."""

    substitutions: int
    deletions: int
    insertions: int
    words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Errors per reference word (0.0 for an empty reference matched exactly)."""
        if self.words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.words

    def __add__(self, other: "WordErrors") -> "WordErrors":
        """Corpus WER sums the counts first (not the per-utterance rates)."""
        return WordErrors(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.words + other.words,
        )


NO_ERRORS = WordErrors(0, 0, 0, 0)


def number_words(n: int) -> str:
    """``n`` (0 ≤ n < 10**9) in words, without "and": 1905 → "one thousand nine hundred five"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            head = f"{number_words(n // size)} {name}"
            return head if rest == 0 else f"{head} {number_words(rest)}"
    raise AssertionError("unreachable")


def normalise(text: str) -> list[str]:
    """The words of ``text`` after the normalisation described in the module docstring."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 → 1000
    text = re.sub(r"[-\u2010-\u2014/]", " ", text)
    text = re.sub(r"[^\w\s']", " ", text)
    words: list[str] = []
    for token in text.split():
        token = token.strip("'")
        if not token:
            continue
        if token.isdigit() and len(token) < 10:
            words.extend(number_words(int(token)).split())
        else:
            words.append(ABBREVIATIONS.get(token, token))
    return words


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Minimum edits turning ``hypothesis`` into ``reference``, by kind."""
    return align(normalise(reference), normalise(hypothesis))


def align(ref: list[str], hyp: list[str]) -> WordErrors:
    """Levenshtein over words; each cell keeps (cost, subs, dels, ins) of its best path."""
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        row = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            c, s, d, n = prev[j - 1]
            match = (c, s, d, n) if ref[i - 1] == hyp[j - 1] else (c + 1, s + 1, d, n)
            c, s, d, n = prev[j]
            delete = (c + 1, s, d + 1, n)
            c, s, d, n = row[j - 1]
            insert = (c + 1, s, d, n + 1)
            row.append(min(match, delete, insert))
        prev = row
    _, subs, dels, ins = prev[-1]
    return WordErrors(subs, dels, ins, len(ref))
