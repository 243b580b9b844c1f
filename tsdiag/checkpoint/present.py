"""Checkpoint facts and findings as reports: console tables, Markdown and the JSON payload.

Nothing is computed here beyond formatting; every number comes from the facts.
The JSON keys are documented in docs/inspect.md.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict
from typing import Any

from tsdiag.checkpoint.facts import (Architecture, CheckpointInspection, DirectoryListing, HealthFacts,
                                     Sourced, TrainingState)
from tsdiag.findings import Severity, format_value
from tsdiag.report import Report, Table, key_value_table
from tsdiag.textfit import short_names

COMMAND = "inspect"
ARCH_FIELDS = ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "hidden_dim", "max_seq_len", "tied_output")
TRAINING_FIELDS = ("step", "epoch", "val_loss", "best_val_loss", "train_loss", "val_ppl")


def _when(mtime: float) -> str:
    return _dt.datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _show(value: Sourced | None) -> str:
    if value is None:
        return "unknown"
    return f"{format_value(value.value)}  ({value.source})"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ------------------------------------------------------------------ JSON

def _sourced_fields(obj: Any, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    values, sources = {}, {}
    for name in names:
        value = getattr(obj, name)
        values[name] = value.value if isinstance(value, Sourced) else None
        if isinstance(value, Sourced):
            sources[name] = {"source": value.source, "origin": value.origin}
    return values, sources


def architecture_data(arch: Architecture) -> dict[str, Any]:
    values, sources = _sourced_fields(arch, ARCH_FIELDS)
    return {"family": arch.family, **values, "n_params": arch.n_params,
            "n_params_embedding": arch.n_params_embedding, "n_params_non_embedding": arch.n_params_non_embedding,
            "dtypes": arch.dtypes, "embedding_name": arch.embedding_name, "buffers": arch.buffers, "sources": sources}


def _sourced_dict(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    out = {}
    for key, value in vars(obj).items():
        out[key] = value.to_dict() if isinstance(value, Sourced) else value
    return out


def training_data(training: TrainingState) -> dict[str, Any]:
    values, sources = _sourced_fields(training, TRAINING_FIELDS)
    return {**values, "has_optimizer_state": training.has_optimizer_state,
            "optimizer": _sourced_dict(training.optimizer), "scheduler": _sourced_dict(training.scheduler),
            "best_checkpoint": training.best_checkpoint.value if training.best_checkpoint else None,
            "best_metric": training.best_metric.value if training.best_metric else None, "sources": sources}


def health_data(health: HealthFacts | None) -> dict[str, Any] | None:
    if health is None:
        return None
    return {
        "verdict": health.verdict, "matrices_checked": health.matrices_checked,
        "matrices_init": health.matrices_init, "share_init": health.share_init, "sampled": health.sampled,
        "sample_values_max": health.sample_rows_max,
        "nonfinite": [asdict(n) for n in health.nonfinite],
        "tensors_scanned": health.tensors_scanned, "bytes_scanned": health.bytes_scanned,
        "full_scan": health.full_scan,
        "frozen_rows": None if health.frozen_rows is None else {**asdict(health.frozen_rows),
                                                                "share": health.frozen_rows.share},
        "zero_rows": health.zero_rows,
        "layers": [asdict(layer) for layer in health.layers],
        "tensors": [{**asdict(t), "shape": list(t.shape)} for t in health.tensors],
    }


def inspection_data(c: CheckpointInspection) -> dict[str, Any]:
    return {
        "path": str(c.path), "format": c.format, "layout": c.layout, "trainer": c.trainer,
        "weights_key": c.weights_key, "stripped_prefixes": c.stripped_prefixes,
        "file": {"size_bytes": c.file.size_bytes, "mtime": c.file.mtime, "role": c.file.role,
                 "step_from_name": c.file.step_from_name, "epoch_from_name": c.file.epoch_from_name},
        "architecture": architecture_data(c.architecture),
        "training": training_data(c.training),
        "hyperparameters": {k: v.to_dict() for k, v in c.hyperparameters.items()},
        "health": health_data(c.health),
        "siblings": [{"path": str(s.path), "step": s.step, "val_loss": s.val_loss, "mtime": s.mtime}
                     for s in c.siblings],
        "val_bits_per_byte": c.val_bits_per_byte,
        "units": None if c.bytes_per_token is None else c.bytes_per_token.to_dict(),
        "article_ids": None if c.article_ids is None else c.article_ids.to_dict(),
        "notes": c.notes,
    }


# ---------------------------------------------------------------- tables

def _architecture_table(arch: Architecture) -> Table:
    rows = [("family", arch.family)]
    for name in ARCH_FIELDS:
        value = getattr(arch, name)
        if value is None and name in ("n_heads", "n_kv_heads"):
            rows.append((name, "unknown (not recorded; shapes do not determine it)"))
        else:
            rows.append((name, _show(value)))
    share = f" ({100 * arch.n_params_embedding / arch.n_params:.0f}%)" if arch.n_params else ""
    rows += [("parameters", f"{arch.n_params:,}"),
             ("  embedding", f"{arch.n_params_embedding:,}{share}"),
             ("  non-embedding", f"{arch.n_params_non_embedding:,}"),
             ("dtypes", ", ".join(f"{d} ({n:,})" for d, n in arch.dtypes.items()) or "-")]
    if arch.buffers:
        rows.append(("buffers (not parameters)", ", ".join(arch.buffers[:4]) + (" ..." if len(arch.buffers) > 4 else "")))
    return key_value_table("Architecture", rows)


def _training_table(c: CheckpointInspection) -> Table:
    tr = c.training
    rows = [(name.replace("_", " "), _show(getattr(tr, name))) for name in TRAINING_FIELDS
            if getattr(tr, name) is not None or name in ("step", "val_loss")]
    if c.val_bits_per_byte is not None:
        bpt = c.bytes_per_token
        rows.append((f"val loss per {'character' if bpt.per_character else 'byte'}",
                     f"{c.val_bits_per_byte:.4g} {bpt.unit} ({bpt.value:.3g} {'chars' if bpt.per_character else 'bytes'}"
                     f"/token, {bpt.source})"))
    opt = tr.optimizer
    if opt is None:
        rows.append(("optimizer state", "none"))
    else:
        parts = [f"{opt.kind}, state for {opt.n_params_with_state} tensors ({opt.source})"]
        if opt.step is not None:
            parts.append(f"its step count {opt.step.value:,}")
        if opt.current_lr is not None:
            parts.append(f"lr when saved {opt.current_lr.value:g}")
        rows.append(("optimizer state", "; ".join(parts)))
    if tr.scheduler is not None:
        s = tr.scheduler
        text = f"{s.kind} ({s.source})"
        if s.last_epoch is not None:
            text += f"; last_epoch {s.last_epoch.value:,}"
        rows.append(("scheduler", text))
    if tr.best_checkpoint is not None:
        rows.append(("best checkpoint recorded", _show(tr.best_checkpoint)))
    if c.file.role:
        rows.append(("file name says", c.file.role))
    return key_value_table("Training state", rows)


def _hyper_table(c: CheckpointInspection) -> Table:
    rows = [[name, format_value(v.value) if not isinstance(v.value, list) else str(v.value), v.origin, v.source]
            for name, v in c.hyperparameters.items()]
    return Table("Hyperparameters", ["name", "value", "origin", "source"], rows or [["-", "none found", "", ""]],
                 note="origin: recorded in the checkpoint, derived from other values, config (--config) or "
                      "inferred from the trainer's code defaults")


def _health_tables(h: HealthFacts, layers: bool) -> list[Table]:
    rows = [("verdict", h.verdict),
            ("matrices at init", f"{h.matrices_init} of {h.matrices_checked}"),
            ("NaN/Inf", "none" if not h.nonfinite else
             "; ".join(f"{n.name}: {n.nan} NaN, {n.inf} Inf" for n in h.nonfinite[:4])),
            ("scanned for NaN/Inf", f"{h.tensors_scanned} tensors, {_size(h.bytes_scanned)}"
                                    + ("" if h.full_scan else " (optimizer state sampled)"))]
    if h.frozen_rows is not None:
        f = h.frozen_rows
        rows.append(("embedding rows never moved", f"{f.count:,} of {f.rows_checked:,} ({100 * f.share:.1f}%), "
                                                   f"by {f.method}"))
    if h.zero_rows:
        rows.append(("embedding rows all zero", f"{h.zero_rows:,}"))
    tables = [key_value_table("Weight health", rows)]
    tables.append(Table("Per layer", ["layer", "matrices", "at init", "params", "std/init", "max spectral", "verdict"],
                        [[lh.layer, str(lh.n_matrices), str(lh.n_init), f"{lh.n_params:,}", _num(lh.mean_std_ratio, 2),
                          _num(lh.max_spectral_ratio, 2), lh.verdict] for lh in h.layers],
                        note="std/init: matrix std over the init std; spectral: top singular value over the edge of "
                             "i.i.d. noise (about 1 at init)"))
    if layers:
        tables.append(Table("Per tensor", ["tensor", "shape", "dtype", "std", "init", "std/init", "kurt", "spectral",
                                           "rows", "verdict"],
                            [[t.name, "x".join(map(str, t.shape)), t.dtype, _num(t.std, 4), t.init,
                              _num(t.std_ratio, 2), _num(t.excess_kurtosis, 2), _num(t.spectral_ratio, 2),
                              f"{t.rows_sampled}/{t.rows_total}" if t.rows_total else "-",
                              t.verdict + (f" ({'; '.join(t.reasons[:2])})" if t.reasons and t.verdict != "init" else "")]
                             for t in h.tensors],
                            verbose_columns=("dtype", "init", "kurt", "rows")))
    return tables


def inspection_report(c: CheckpointInspection, *, layers: bool = False) -> Report:
    head = [("path", str(c.path)), ("size", _size(c.file.size_bytes)), ("modified", _when(c.file.mtime)),
            ("format", c.format), ("layout", c.layout), ("trainer", c.trainer or "unknown"),
            ("weights", f"key {c.weights_key!r}" if c.weights_key else "top level")]
    tables = [key_value_table("Checkpoint", head), _architecture_table(c.architecture), _training_table(c),
              _hyper_table(c)]
    if c.health is not None:
        tables += _health_tables(c.health, layers)
    if c.siblings:
        tables.append(Table("Other checkpoints in this folder", ["checkpoint", "step", "val loss", "modified"],
                            [[s.path.name, format_value(s.step) if s.step is not None else "-",
                              _num(s.val_loss, 4), _when(s.mtime)] for s in c.siblings],
                            verbose_columns=("modified",)))
    return Report(command=COMMAND, title=f"tsdiag inspect {c.path}", tables=tables, findings=list(c.findings),
                  data=inspection_data(c), notes=[f"note: {n}" for n in c.notes])


def summary_report(items: list[CheckpointInspection]) -> Report:
    """Several checkpoints side by side (display only: JSON has one object per checkpoint)."""
    def cell(value: Any) -> str:
        return "-" if value is None else format_value(value.value if isinstance(value, Sourced) else value)

    rows = [
        ["format"] + [c.format for c in items],
        ["family"] + [c.architecture.family for c in items],
        ["vocab_size"] + [cell(c.architecture.vocab_size) for c in items],
        ["dim"] + [cell(c.architecture.dim) for c in items],
        ["n_layers"] + [cell(c.architecture.n_layers) for c in items],
        ["n_heads"] + [cell(c.architecture.n_heads) for c in items],
        ["parameters"] + [f"{c.architecture.n_params:,}" for c in items],
        ["step"] + [cell(c.training.step) for c in items],
        ["val loss"] + [cell(c.training.val_loss) for c in items],
        ["optimizer state"] + ["yes" if c.training.has_optimizer_state else "no" for c in items],
        ["health"] + [c.health.verdict if c.health else "-" for c in items],
        ["findings"] + [", ".join(f"{sum(f.severity is s for f in c.findings)} {s.label}"
                                  for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)) for c in items],
    ]
    columns = [""] + short_names([c.path for c in items])  # out_a/ckpt.pt, out_b/ckpt.pt: not ckpt.pt twice
    return Report(command=COMMAND, title="tsdiag inspect: side by side", tables=[Table("", columns, rows)])


def directory_report(listing: DirectoryListing) -> Report:
    rows = []
    for e in listing.entries:
        marks = ", ".join(m for m, on in (("newest", e.newest), ("best", e.best), ("another model", e.other_model))
                          if on)
        rows.append([e.path.name, e.format, format_value(e.step) if e.step is not None else "-",
                     format_value(e.epoch) if e.epoch is not None else "-", _num(e.val_loss, 4), _when(e.mtime),
                     _size(e.size_bytes), marks])
    data = {"path": str(listing.path), "format": "directory",
            "checkpoints": [{"path": str(e.path), "format": e.format, "step": e.step, "epoch": e.epoch,
                             "val_loss": e.val_loss, "mtime": e.mtime, "size_bytes": e.size_bytes,
                             "step_source": e.step_source, "val_loss_source": e.val_loss_source,
                             "newest": e.newest, "best": e.best, "other_model": e.other_model}
                            for e in listing.entries],
            "skipped": [{"path": str(p), "problem": why} for p, why in listing.skipped]}
    notes = [f"skipped {p.name}: {why}" for p, why in listing.skipped]
    others = [e.path.name for e in listing.entries if e.other_model]
    if others:
        notes.append(f"{', '.join(others)}: another model (its weight shapes differ), not ranked for newest/best")
    return Report(command=COMMAND, title=f"tsdiag inspect {listing.path} (folder)",
                  tables=[Table("Checkpoints by step", ["checkpoint", "format", "step", "epoch", "val loss",
                                                        "modified", "size", ""], rows,
                                verbose_columns=("modified",))],
                  data=data, notes=notes)
