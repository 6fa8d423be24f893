"""Training the hate/threat pipeline, with figures a moderator can judge it by.

``train`` holds out a stratified share of the labelled CSV (25 % by default,
fixed seed, so two runs on the same file print the same figures), fits on the
rest and reports precision, recall and F1 per category on the held-out part at
the thresholds the screen uses. The model it returns is then refitted on every
row: the held-out figures estimate it, and no labelled sentence goes unused.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from streams.moderation_model import (
    DEFAULT_THRESHOLDS,
    TRAINED_CATEGORIES,
    TrainedModel,
    fit,
    read_labelled,
)

HELD_OUT = 0.25
SPLIT_SEED = 12


@dataclass(frozen=True)
class CategoryFigures:
    category: str
    precision: float
    recall: float
    f1: float
    support: int
    """Held-out sentences labelled with this category."""


@dataclass(frozen=True)
class Report:
    figures: tuple[CategoryFigures, ...]
    train_rows: int
    held_out_rows: int
    model: TrainedModel
    """Fitted on every row, after the held-out evaluation."""

    def by_category(self) -> dict[str, CategoryFigures]:
        return {f.category: f for f in self.figures}


def figures(
    labels: Sequence[str],
    scores: Sequence[Mapping[str, float]],
    thresholds: Mapping[str, float],
) -> tuple[CategoryFigures, ...]:
    """Precision, recall and F1 per trained category, flagging at its threshold."""
    result = []
    for category in TRAINED_CATEGORIES:
        actual = [label == category for label in labels]
        flagged = [s[category] >= thresholds.get(category, 0.5) for s in scores]
        hits = sum(a and f for a, f in zip(actual, flagged, strict=True))
        precision = hits / sum(flagged) if any(flagged) else 0.0
        recall = hits / sum(actual) if any(actual) else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result.append(CategoryFigures(category, precision, recall, f1, sum(actual)))
    return tuple(result)


def train(
    csv_path: Path,
    *,
    held_out: float = HELD_OUT,
    seed: int = SPLIT_SEED,
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    console: Console | None = None,
) -> Report:
    """Evaluate on a stratified held-out split, print the figures, fit on all rows."""
    from sklearn.model_selection import train_test_split

    texts, labels = read_labelled(csv_path)
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        texts, labels, test_size=held_out, random_state=seed, stratify=labels
    )
    evaluated = fit(train_texts, train_labels, str(csv_path))
    report = Report(
        figures=figures(test_labels, evaluated.predict(test_texts), thresholds),
        train_rows=len(train_texts),
        held_out_rows=len(test_texts),
        model=fit(texts, labels, str(csv_path)),
    )
    print_report(report, console or Console())
    return report


def print_report(report: Report, console: Console) -> None:
    table = Table(
        title=f"moderation: held-out {report.held_out_rows} of "
        f"{report.train_rows + report.held_out_rows} rows"
    )
    for column in ("category", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for f in report.figures:
        table.add_row(
            f.category, f"{f.precision:.3f}", f"{f.recall:.3f}", f"{f.f1:.3f}", str(f.support)
        )
    console.print(table)
