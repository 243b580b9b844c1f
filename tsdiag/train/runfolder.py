"""The run folder: what a reference run leaves behind, and how it is read back.

    model.safetensors  weights (llama2.c or nanoGPT names); ``__metadata__`` holds
                       step, val_loss, best_val_loss, recipe (strings)
    ckpt.pt            llama2.c layout: model, optimizer, model_args, iter_num,
                       best_val_loss, config (+ val_loss), so llama2.c/nanoGPT
                       tools and ``tsdiag inspect`` read it; ``--resume`` starts here
    run.json           schema 1: recipe, architecture, progress, val history, data
                       fingerprint, the article ids chosen and their per-id evidence
                       (``data.article_id_choice``), throughput, timings (docs/retrain.md
                       lists the keys)
    metrics.csv        one row per optimizer step (validation columns at eval steps)
    loss.png           loss and article/other ratio against step

Every file is written through :func:`tsdiag.fileio.atomic_path`, so a crash or
Ctrl-C never leaves half a file, and ckpt.pt, run.json and metrics.csv are
always written together at the same step.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from tsdiag.errors import InputError
from tsdiag.fileio import atomic_path, write_json_atomic

RUN_SCHEMA = 1
MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "ckpt.pt"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.csv"
PLOT_FILE = "loss.png"

METRIC_COLUMNS = (
    "step", "tokens", "loss", "article_loss", "other_loss", "ratio", "lr", "grad_norm",
    "ms_per_step", "tokens_per_s", "mfu", "val_loss", "val_article_loss", "val_other_loss", "val_ratio",
)


# Keys every reader of run.json relies on (compare, diagnose, --resume), with their JSON types.
_RUN_KEYS = {"recipe": str, "objective": str, "status": str, "step": int, "final": dict, "data": dict, "config": dict}


def write_checkpoint(out_dir: Path, payload: Mapping[str, Any]) -> None:
    import torch

    with atomic_path(out_dir / CHECKPOINT_FILE) as tmp:
        torch.save(dict(payload), tmp)


def write_model(out_dir: Path, state_dict: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Weights as safetensors; a tied output matrix is stored once (under the embedding's name)."""
    from safetensors.torch import save_file

    tensors, seen = {}, {}
    for name, tensor in state_dict.items():
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key in seen:
            continue
        seen[key] = name
        tensors[name] = tensor.detach().to("cpu").contiguous()
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={k: _metadata_text(v) for k, v in metadata.items()})


def _metadata_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def write_run(out_dir: Path, run: Mapping[str, Any]) -> None:
    write_json_atomic(out_dir / RUN_FILE, run)


def write_metrics(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with atomic_path(out_dir / METRICS_FILE) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(row.get(k)) for k in METRIC_COLUMNS})


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.csv with numbers as numbers and empty cells as ``None``."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "step" not in reader.fieldnames:
                raise InputError(path, "not a tsdiag metrics.csv (no header with a step column)")
            for line, raw in enumerate(reader, 2):
                row: dict[str, Any] = {}
                for key, text in raw.items():
                    if key is None:
                        continue
                    if text in ("", None):
                        row[key] = None
                    elif key in ("step", "tokens"):
                        row[key] = int(float(text))
                    else:
                        row[key] = float(text)
                if row.get("step") is None:
                    raise InputError(path, f"line {line} has no step")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a tsdiag metrics.csv (not UTF-8 text: {exc.reason})") from None
    except (ValueError, OverflowError) as exc:  # a cell that is not a (finite) number
        raise InputError(path, f"not a tsdiag metrics.csv ({exc})") from None
    except csv.Error as exc:
        raise InputError(path, f"not a tsdiag metrics.csv ({exc})") from None
    return rows


def read_run(path: Path) -> dict[str, Any]:
    """run.json of a run folder (or the file itself), checked to be a tsdiag run."""
    path = Path(path)
    file = path / RUN_FILE if path.is_dir() else path
    if not file.is_file():
        raise InputError(path, f"no {RUN_FILE} here: not a tsdiag run folder")
    try:
        run = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(file, f"unreadable run file: {exc}") from None
    if not isinstance(run, dict) or run.get("kind") != "tsdiag-run":
        raise InputError(file, "not a tsdiag run.json (no \"kind\": \"tsdiag-run\")")
    if run.get("schema") != RUN_SCHEMA:
        raise InputError(file, f"run.json schema {run.get('schema')!r}; this tsdiag reads schema {RUN_SCHEMA}")
    missing = [key for key, kind in _RUN_KEYS.items() if not isinstance(run.get(key), kind)]
    if missing:
        raise InputError(file, f"incomplete run.json: {', '.join(missing)} missing or of the wrong type")
    return run


def plot_run(out_dir: Path, rows: Sequence[Mapping[str, Any]], title: str) -> None:
    """loss.png: train and validation loss (top), article/other ratio (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    plot_curve(top, rows, "loss", "train loss (objective)", alpha=0.5)
    plot_curve(top, rows, "val_loss", "val loss (cross-entropy)", marker="o")
    top.set_ylabel("loss (nats/token)")
    top.set_title(title)
    plot_curve(bottom, rows, "ratio", "train article/other", alpha=0.5)
    plot_curve(bottom, rows, "val_ratio", "val article/other", marker="o")
    bottom.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    bottom.set_xlabel("step")
    bottom.set_ylabel("article loss / other loss")
    for ax in (top, bottom):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    with atomic_path(out_dir / PLOT_FILE) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def plot_curve(ax, rows, key, label, **style) -> None:
    """Draw metrics column ``key`` against step, skipping empty cells."""
    points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], label=label, **style)
