"""Side-by-side facts of reference runs (and plain checkpoints), for ``tsdiag compare``.

A tsdiag run folder gives everything (run.json and metrics.csv); any other
checkpoint gives what ``tsdiag inspect`` reads from it (step, val loss,
architecture), and its article/other columns stay empty: "unknown" is an
honest value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tsdiag.errors import InputError
from tsdiag.train import runfolder

_ARCH_KEYS = ("family", "dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "n_embd", "n_layer", "n_head")


@dataclass
class RunSummary:
    name: str
    path: str
    kind: str                          # "tsdiag-run" or "checkpoint"
    recipe: str | None = None
    objective: str | None = None       # "standard", "weighted" or None (unknown)
    article_weight: float | None = None
    normalize: str | None = None
    status: str | None = None
    steps: int | None = None
    tokens_seen: int | None = None
    tokens_per_step: int | None = None
    final_val_loss: float | None = None
    best_val_loss: float | None = None
    article_loss: float | None = None  # validation cross-entropy of article targets at the last evaluation
    other_loss: float | None = None
    ratio: float | None = None
    ratio_source: str = "run.json: final"
    tokens_per_s: float | None = None
    mfu: float | None = None
    data_fingerprint: str | None = None
    seed: int | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)   # metrics.csv rows
    run: dict[str, Any] = field(default_factory=dict)           # the run.json record, when there is one
    bytes_per_token: Any = None        # tsdiag.units.BytesPerToken of the run's tokenizer, when known

    @property
    def final_val_bits_per_byte(self) -> float | None:
        """The final val loss per byte (per character for a char vocabulary), when the tokenizer is known."""
        from tsdiag.units import bits_per_byte

        if self.bytes_per_token is None or self.final_val_loss is None:
            return None
        return round(bits_per_byte(self.final_val_loss, self.bytes_per_token), 4)

    def differences(self, other: "RunSummary") -> list[tuple[str, Any, Any]]:
        """(what, this, other) for everything but the objective that makes two runs not a matched pair."""
        pairs = [("data fingerprint", self.data_fingerprint, other.data_fingerprint),
                 ("seed", self.seed, other.seed),
                 ("steps", self.steps, other.steps),
                 ("tokens per step", self.tokens_per_step, other.tokens_per_step)]
        pairs += [(f"architecture.{k}", _family(self.architecture.get(k)) if k == "family" else self.architecture.get(k),
                   _family(other.architecture.get(k)) if k == "family" else other.architecture.get(k))
                  for k in _ARCH_KEYS]
        mine, theirs = self.recipe_settings(), other.recipe_settings()
        pairs += [(f"config.{k}", mine.get(k), theirs.get(k)) for k in _RECIPE_SETTINGS]
        return [(name, a, b) for name, a, b in pairs if a is not None and b is not None and a != b]

    def recipe_settings(self) -> dict[str, Any]:
        """The training settings a run recorded (the schedule as it ran), beyond its objective."""
        return {**self.run.get("config", {}), **self.run.get("schedule", {})}

    def to_dict(self) -> dict[str, Any]:
        keys = ("name", "path", "kind", "recipe", "objective", "article_weight", "normalize", "status", "steps",
                "tokens_seen", "final_val_loss", "best_val_loss", "article_loss", "other_loss", "ratio",
                "tokens_per_s", "mfu", "data_fingerprint", "seed")
        units = None if self.bytes_per_token is None else self.bytes_per_token.to_dict()
        return {k: getattr(self, k) for k in keys} | {"architecture": self.architecture,
                                                      "final_val_bits_per_byte": self.final_val_bits_per_byte,
                                                      "units": units}


# settings besides the objective that make two runs train differently
_RECIPE_SETTINGS = ("learning_rate", "min_lr", "warmup_iters", "lr_decay_iters", "weight_decay", "beta1", "beta2",
                    "grad_clip", "batch_size", "gradient_accumulation_steps", "max_seq_len", "dropout")


def _family(name: Any) -> Any:
    """One spelling per model family (run.json says llama2c, inspect says llama2.c)."""
    return {"llama2.c": "llama2c", "hf-llama": "llama2c", "hf-gpt2": "nanogpt"}.get(name, name)


def read_summary(path: str | Path) -> RunSummary:
    """A run folder, its run.json, a file inside a run folder, or any checkpoint ``inspect`` reads."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or directory")
    folder = path if path.is_dir() else path.parent
    if (folder / runfolder.RUN_FILE).is_file() and (path.is_dir() or path.name in (
            runfolder.RUN_FILE, runfolder.CHECKPOINT_FILE, runfolder.MODEL_FILE)):
        return _from_run(folder)
    return _from_checkpoint(path)


def _run_bytes_per_token(run: dict):
    """Bytes per token of the tokenizer the run recorded, when that file is still there and readable."""
    from tsdiag.errors import InputError
    from tsdiag.tokenizer import load_tokenizer
    from tsdiag.units import reference_bytes_per_token

    path = (run.get("data") or {}).get("tokenizer")
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    try:
        return reference_bytes_per_token(load_tokenizer(path))
    except InputError:
        return None


def _from_run(folder: Path) -> RunSummary:
    run = runfolder.read_run(folder)
    final = run.get("final", {})
    metrics_path = folder / runfolder.METRICS_FILE
    curve = runfolder.read_metrics(metrics_path) if metrics_path.is_file() else []
    throughput = run.get("throughput", {})
    return RunSummary(
        name=folder.name, path=str(folder), kind="tsdiag-run", recipe=run.get("recipe"),
        objective=run.get("objective"), article_weight=run.get("article_weight"), normalize=run.get("normalize"),
        status=run.get("status"), steps=run.get("step"), tokens_seen=run.get("tokens_seen"),
        tokens_per_step=run.get("tokens_per_step"), final_val_loss=_number(run.get("val_loss")),
        best_val_loss=_number(run.get("best_val_loss")), article_loss=_number(final.get("article_loss")),
        other_loss=_number(final.get("other_loss")), ratio=_number(final.get("ratio")),
        tokens_per_s=_number(throughput.get("tokens_per_s")), mfu=_number(throughput.get("mfu")),
        data_fingerprint=run.get("data", {}).get("fingerprint"), seed=run.get("seed"),
        architecture=dict(run.get("architecture", {})), curve=curve, run=run,
        bytes_per_token=_run_bytes_per_token(run),
    )


def _from_checkpoint(path: Path) -> RunSummary:
    from tsdiag.checkpoint import inspect_checkpoint

    facts = inspect_checkpoint(path, health=False, siblings=False)
    arch = facts.architecture
    training = facts.training
    weight = facts.hyperparameters.get("article_weight")
    objective = None
    if weight is not None:
        objective = "weighted" if float(weight.value) != 1.0 else "standard"
    return RunSummary(
        name=path.name if path.is_file() else path.name + "/", path=str(path), kind="checkpoint",
        objective=objective, article_weight=float(weight.value) if weight is not None else None,
        steps=_sourced(training.step), final_val_loss=_sourced(training.val_loss),
        best_val_loss=_sourced(training.best_val_loss),
        architecture={"family": arch.family, **{k: arch.get(k) for k in ("dim", "n_layers", "n_heads", "vocab_size")
                                                if arch.get(k) is not None}},
    )


def _sourced(value) -> Any:
    return None if value is None else value.value


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def labels(summaries: Sequence[RunSummary]) -> list[str]:
    """Each run by the shortest path tail that tells it from the others (out_a/ckpt.pt, not ckpt.pt twice)."""
    from tsdiag.textfit import short_names

    return short_names([s.path for s in summaries])


def comparison_plots(summaries: Sequence[RunSummary]) -> list:
    """The overlaid curves of :func:`plot_comparison` for ``--html``; none when no run has a curve."""
    from tsdiag.report import Plot

    if not any(s.curve for s in summaries):
        return []
    return [Plot(f"runs side by side: {', '.join(labels(summaries))}",
                 lambda target: plot_comparison(summaries, target))]


def plot_comparison(summaries: Sequence[RunSummary], target: Path) -> None:
    """Overlaid train/val loss (top) and article/other ratio (bottom) of every run with a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsdiag.fileio import atomic_path

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for i, (summary, name) in enumerate(zip(summaries, labels(summaries))):
        color = f"C{i}"
        rows = summary.curve
        runfolder.plot_curve(top, rows, "loss", f"{name} train", color=color, alpha=0.4)
        runfolder.plot_curve(top, rows, "val_loss", f"{name} val", color=color, marker="o")
        runfolder.plot_curve(bottom, rows, "ratio", f"{name} train", color=color, alpha=0.4)
        runfolder.plot_curve(bottom, rows, "val_ratio", f"{name} val", color=color, marker="o")
    top.set_ylabel("loss (nats/token)")
    top.set_title("loss: train objective (faint) and validation cross-entropy (dots)")
    bottom.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    bottom.set_ylabel("article loss / other loss")
    bottom.set_xlabel("step")
    for ax in (top, bottom):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)



_ROWS = (
    ("recipe", "recipe", ""), ("objective", "objective", ""), ("article weight", "article_weight", ""),
    ("normalize", "normalize", ""), ("status", "status", ""), ("steps", "steps", ""),
    ("tokens seen", "tokens_seen", ""), ("final val loss", "final_val_loss", ""),
    ("final val loss per byte", "final_val_bits_per_byte", ""),
    ("best val loss", "best_val_loss", ""), ("val article loss", "article_loss", ""),
    ("val other loss", "other_loss", ""), ("article/other ratio", "ratio", ""),
    ("tokens/s", "tokens_per_s", ""), ("MFU", "mfu", "%"), ("data fingerprint", "data_fingerprint", ""),
    ("seed", "seed", "raw"),
)


def compare_report(summaries: Sequence[RunSummary], findings: list, plot: Path | None = None):
    """One side-by-side table (a column per run) and the comparison's findings."""
    from tsdiag.findings import format_value
    from tsdiag.report import Report, Table

    def cell(summary: RunSummary, attr: str, unit: str) -> str:
        value = getattr(summary, attr)
        if value is None:
            return "-"
        if unit == "%":
            return f"{value:.1%}"
        return str(value) if unit == "raw" else format_value(value)

    table = Table(
        title="Runs side by side",
        columns=["", *labels(summaries)],
        rows=[[label, *[cell(s, attr, unit) for s in summaries]] for label, attr, unit in _ROWS],
        note="Losses are validation cross-entropy (nats/token) at the last evaluation; per byte: bits/byte "
             "(bits/char for a char vocabulary) from the run's tokenizer on tsdiag's bundled story text; "
             "the ratio is article loss / other loss.",
    )
    notes = [f"plot written to {plot}"] if plot is not None else []
    data = {"runs": [s.to_dict() for s in summaries], "plot": str(plot) if plot is not None else None}
    return Report(command="compare", title="tsdiag compare", tables=[table], findings=list(findings),
                  data=data, notes=notes)
