"""The moderation models: the trainable pipeline, its file, term lists and thresholds.

``projections/screening.py`` decides what a sentence scores and what flags; it
takes its models as callables. This module is the adapter that builds those
callables from scikit-learn, joblib and alt-profanity-check, so the pure side
never imports them.

Where the trained model lives: a path given by the caller, by default
``DATA_DIR/moderation/model.joblib`` (``stoa moderation train`` writes there).
When no file exists, a small model is trained from the bundled seed set
(``moderation_seed.csv``, a second or so) and cached at that path, so a fresh
``stoa up`` screens without a manual step. A cached seed model is retrained when
the seed file or scikit-learn changed; a model trained by an operator is never
replaced behind their back.

A joblib file is a pickle: loading one runs code. Only load files this system
wrote (the data dir is trusted, like the broker's data).
"""

import csv
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from projections.screening import HARASSMENT, PROFANITY, Screener

log = logging.getLogger(__name__)

TRAINED_CATEGORIES: tuple[str, ...] = ("hate", "threat")
"""What the trainable pipeline scores; a CSV row labelled ``none`` is in neither."""
NONE = "none"

SEED_CSV = Path(__file__).with_name("moderation_seed.csv")
"""Short spoken-style sentences labelled hate / threat / none, written for Stoa."""

DEFAULT_TERM_LISTS: Mapping[str, tuple[str, ...]] = {
    "self_harm": (
        "kill myself",
        "killing myself",
        "end my life",
        "ending my life",
        "want to die",
        "wanna die",
        "hurt myself",
        "hurting myself",
        "cut myself",
        "suicide",
        "better off dead",
        "no reason to live",
    ),
    "spam": (
        "buy followers",
        "free followers",
        "click the link in my bio",
        "link in my bio",
        "dm me for",
        "promo code",
        "free crypto",
        "double your money",
        "crypto giveaway",
        "guaranteed returns",
        "work from home and earn",
    ),
}
"""Categories too rare or too fast-moving to train for; operators edit these lists."""

DEFAULT_THRESHOLDS: Mapping[str, float] = {
    PROFANITY: 0.9,
    HARASSMENT: 0.8,
    "hate": 0.5,
    "threat": 0.5,
    "self_harm": 0.5,
    "spam": 0.5,
}
"""Score from which each category reaches the moderator queue.

Profanity is set high: alt-profanity-check gives mild words ("damn", "stupid
idea") 0.9 and more, and swearing alone is rarely what a moderator must see.
Harassment (swearing at someone) and the trained categories flag at even odds.
"""


def default_model_path(data_dir: Path) -> Path:
    """Where ``stoa up`` and ``stoa moderation train`` keep the trained model."""
    return data_dir / "moderation" / "model.joblib"


def read_labelled(csv_path: Path) -> tuple[list[str], list[str]]:
    """Texts and categories from a ``text,category`` CSV (header required)."""
    texts: list[str] = []
    labels: list[str] = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"text", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            text, category = (row["text"] or "").strip(), (row["category"] or "").strip()
            if text and category:
                texts.append(text)
                labels.append(category.lower())
    return texts, labels


def build_pipeline() -> Any:
    """Word and character n-gram TF-IDF into one logistic regression per category.

    Word n-grams catch phrasing ("I will hurt you"); character n-grams survive
    ASR misspellings and inflections. One-vs-rest over an indicator matrix gives
    each category its own probability, so a sentence can be hate and threat at
    once. ``class_weight="balanced"`` because abuse is the rare class.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            ),
        ]
    )
    classifier = OneVsRestClassifier(
        LogisticRegression(class_weight="balanced", C=10.0, max_iter=2000)
    )
    return Pipeline([("features", features), ("classify", classifier)])


@dataclass
class TrainedModel:
    """A fitted pipeline and what it scores; callable as a screening ``Classifier``."""

    pipeline: Any
    categories: tuple[str, ...]
    source: str
    """``seed:<sha256>`` for the bundled seed model, else the CSV it was trained on."""
    sklearn_version: str

    def __call__(self, text: str) -> dict[str, float]:
        return self.predict([text])[0]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Probabilities per category for many texts in one pass (training reports)."""
        if not texts:
            return []
        probabilities = self.pipeline.predict_proba(list(texts))
        return [
            {c: float(p) for c, p in zip(self.categories, row, strict=True)}
            for row in probabilities
        ]


def indicator(labels: Sequence[str], categories: Sequence[str]) -> list[list[int]]:
    """One 0/1 column per category: the targets of the one-vs-rest classifiers."""
    return [[int(label == c) for c in categories] for label in labels]


def fit(texts: Sequence[str], labels: Sequence[str], source: str) -> TrainedModel:
    """Fit the pipeline; every category must have at least one example."""
    import sklearn

    unknown = sorted(set(labels) - {*TRAINED_CATEGORIES, NONE})
    if unknown:
        raise ValueError(f"unknown categories {unknown}; expected {[*TRAINED_CATEGORIES, NONE]}")
    absent = [c for c in TRAINED_CATEGORIES if c not in labels]
    if absent:
        raise ValueError(f"no examples of {absent}")
    pipeline = build_pipeline()
    pipeline.fit(list(texts), indicator(labels, TRAINED_CATEGORIES))
    return TrainedModel(pipeline, TRAINED_CATEGORIES, source, sklearn.__version__)


def save(model: TrainedModel, path: Path) -> None:
    """Write the model atomically: a reader never sees half a file."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> TrainedModel:
    """Read a model written by ``save`` (trusted files only: joblib unpickles)."""
    import joblib

    model = joblib.load(path)
    if not isinstance(model, TrainedModel):
        raise ValueError(f"{path} does not hold a Stoa moderation model")
    return model


def seed_source(seed_csv: Path = SEED_CSV) -> str:
    return "seed:" + hashlib.sha256(seed_csv.read_bytes()).hexdigest()


def _stale_seed_model(model: TrainedModel, seed_csv: Path) -> bool:
    import sklearn

    if not model.source.startswith("seed:"):
        return False
    return model.source != seed_source(seed_csv) or model.sklearn_version != sklearn.__version__


def load_or_train(path: Path, seed_csv: Path = SEED_CSV) -> TrainedModel:
    """The model at ``path``; else one trained from the seed set and cached there."""
    if path.exists():
        model = load(path)
        if not _stale_seed_model(model, seed_csv):
            return model
        log.info("moderation: the seed set or scikit-learn changed; retraining %s", path)
    texts, labels = read_labelled(seed_csv)
    model = fit(texts, labels, seed_source(seed_csv))
    try:
        save(model, path)
    except OSError as exc:  # a read-only data dir still screens, from memory
        log.warning("moderation: could not cache the seed model at %s: %s", path, exc)
    return model


def profanity_probability(text: str) -> float:
    """alt-profanity-check's probability that ``text`` is profane.

    Imported on first use: loading its model takes about a second.
    """
    from profanity_check import predict_prob

    return float(predict_prob([text])[0])


def screener(
    model: TrainedModel,
    term_lists: Mapping[str, Sequence[str]] = DEFAULT_TERM_LISTS,
) -> Screener:
    """The screen the ASR worker runs on each final segment."""
    return Screener(profanity=profanity_probability, classifier=model, term_lists=term_lists)


def default_screener(data_dir: Path, model_path: Path | None = None) -> Screener:
    """The screen with the operator's model if there is one, else the seed model."""
    return screener(load_or_train(model_path or default_model_path(data_dir)))
