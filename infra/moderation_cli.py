"""``stoa moderation …``: operator commands for automated moderation.

A group of its own so ``infra/cli.py`` registers it with one line, and so the
scikit-learn import cost is paid only when a moderation command runs.
"""

from pathlib import Path

import click
from rich.console import Console


@click.group()
def moderation() -> None:
    """Automated moderation: train and inspect the screening model."""


@moderation.command()
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled sentences: a text,category CSV (hate, threat or none)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model (default DATA_DIR/moderation/model.joblib)",
)
def train(csv_path: Path, out: Path | None) -> None:
    """Train hate/threat on CSV, print held-out precision/recall, save the model."""
    from infra.settings import Settings
    from streams.moderation_model import default_model_path, save
    from streams.moderation_train import train as run_training

    console = Console()
    try:
        report = run_training(csv_path, console=console)
    except ValueError as exc:  # bad columns, unknown or missing categories
        raise click.ClickException(str(exc)) from exc
    path = out or default_model_path(Settings().data_dir)
    save(report.model, path)
    console.print(f"model trained on all {report.train_rows + report.held_out_rows} rows: {path}")
