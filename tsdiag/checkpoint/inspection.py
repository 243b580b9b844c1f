"""One checkpoint (or a folder of them) from files to facts and findings.

Readers open the file, :mod:`meaning` reads the recorded values,
:mod:`anatomy` and :mod:`health` look at the weights, :mod:`rules` judges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from tsdiag.checkpoint.anatomy import describe
from tsdiag.checkpoint.defaults import detect_trainer
from tsdiag.checkpoint.facts import (DERIVED, RECORDED, CheckpointInspection, DirectoryEntry, DirectoryListing,
                                     SiblingCheckpoint, Sourced, TrainingState)
from tsdiag.checkpoint.formats import check_exists, read_checkpoint, reader_for
from tsdiag.checkpoint.hf_folder import is_hf_folder
from tsdiag.checkpoint.interface import Document, RawCheckpoint
from tsdiag.checkpoint.meaning import Interpreter, dotted
from tsdiag.checkpoint.names import file_facts, parse_name
from tsdiag.checkpoint.tensors import TensorRef
from tsdiag.errors import InputError
from tsdiag.thresholds import Thresholds

CHECKPOINT_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".tar"}
MAX_SIBLINGS = 64


def load_config(path: str | Path) -> Document:
    """A training config (YAML or JSON) as a document of recorded settings."""
    path = Path(path)
    check_exists(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix == ".json":
            tree = json.loads(text)
        else:
            import yaml

            tree = yaml.safe_load(text)
    except Exception as exc:   # yaml raises many error types; all mean "unreadable config"
        raise InputError(path, f"cannot parse config: {str(exc).splitlines()[0][:160]}") from None
    if not isinstance(tree, dict):
        raise InputError(path, "config must be a mapping of settings (YAML or JSON object)")
    return Document(path.name, tree)


def _tensors_in(documents: list[Document]) -> dict[str, TensorRef]:
    """Every tensor outside the weights (optimizer moments, scheduler tensors), by source path."""
    found: dict[str, TensorRef] = {}
    for doc in documents:
        stack: list[tuple[tuple, Any]] = [((), doc.tree)]
        while stack:
            path, node = stack.pop()
            if isinstance(node, TensorRef):
                found[f"{doc.label}: {dotted(path)}"] = node
            elif isinstance(node, dict):
                stack.extend((path + (k,), v) for k, v in node.items())
            elif isinstance(node, (list, tuple)):
                stack.extend((path + (i,), v) for i, v in enumerate(node))
    return found


def _embedding_moment(documents: list[Document], shape: tuple[int, ...]) -> tuple[TensorRef, str] | None:
    """AdamW's exp_avg_sq of the token embedding: the first state entry with the embedding's shape."""
    for doc in documents:
        stack: list[tuple[tuple, Any]] = [((), doc.tree)]
        while stack:
            path, node = stack.pop(0)
            if isinstance(node, dict) and "state" in node and "param_groups" in node and isinstance(node["state"], dict):
                for index in sorted(node["state"], key=lambda k: (not isinstance(k, int), k if isinstance(k, int) else 0)):
                    entry = node["state"][index]
                    ref = entry.get("exp_avg_sq") if isinstance(entry, dict) else None
                    if isinstance(ref, TensorRef) and ref.shape == shape:
                        label = f"{doc.label}: {dotted(path + ('state', index, 'exp_avg_sq'))}"
                        return ref, f"{label} (rows exactly 0 = never updated)"
                continue
            if isinstance(node, dict):
                stack.extend((path + (k,), v) for k, v in node.items() if not isinstance(v, TensorRef))
            elif isinstance(node, list):
                stack.extend((path + (i,), v) for i, v in enumerate(node))
    return None


def _fill_from_name(training: TrainingState, name: str, optimizer_step: Sourced | None) -> None:
    role, step, epoch = parse_name(name)
    if training.step is None and step is not None:
        training.step = Sourced(step, f"file name {name}", DERIVED)
    if training.step is None and optimizer_step is not None:
        training.step = Sourced(optimizer_step.value, optimizer_step.source + " (optimizer steps)", DERIVED)
    if training.epoch is None and epoch is not None:
        training.epoch = Sourced(epoch, f"file name {name}", DERIVED)


def _trainer(raw: RawCheckpoint) -> str | None:
    if raw.format == "hf-trainer-checkpoint":
        return "hf-trainer"
    if raw.layout == "lightning":
        return "lightning"
    return detect_trainer(raw.documents[0].tree) if raw.documents else None


def summarize_training(raw: RawCheckpoint) -> TrainingState:
    """Step, epoch and losses only (no weights read): for folder listings and sibling comparisons."""
    training = Interpreter(raw.documents).training_state()
    _fill_from_name(training, raw.path.name, training.optimizer.step if training.optimizer else None)
    return training


def sibling_checkpoints(path: Path, shapes: frozenset | None = None,
                        folder: Path | None = None) -> tuple[list[SiblingCheckpoint], list[str]]:
    """Other checkpoints of the same model with their step and val loss (unreadable ones skipped).

    ``folder`` defaults to the checkpoint's own; ``shapes`` (see :func:`shape_signature`) keeps
    only checkpoints of the same architecture: another model's later step says nothing about this one.
    """
    from tsdiag.train.runfolder import CHECKPOINT_FILE, MODEL_FILE

    folder = folder or path.parent
    siblings, notes = [], []
    # a tsdiag run folder's model.safetensors is the same state as its ckpt.pt, not another checkpoint
    same_state = path.parent / MODEL_FILE if path.name == CHECKPOINT_FILE else None
    candidates = [p for p in sorted(folder.iterdir())
                  if p.resolve() != path.resolve() and p != same_state and _looks_like_checkpoint(p)]
    for candidate in candidates[:MAX_SIBLINGS]:
        try:
            raw = read_checkpoint(candidate)
        except InputError as exc:
            notes.append(f"sibling {candidate.name} skipped: {exc.problem}")
            continue
        if shapes is not None and shape_signature(raw) != shapes:
            notes.append(f"sibling {candidate.name} skipped: another model (its weight shapes differ)")
            continue
        training = summarize_training(raw)
        siblings.append(SiblingCheckpoint(
            path=candidate, step=training.step.value if training.step else None,
            val_loss=training.val_loss.value if training.val_loss else None, mtime=candidate.stat().st_mtime,
            step_source=training.step.source if training.step else "",
            val_loss_source=training.val_loss.source if training.val_loss else ""))
    if len(candidates) > MAX_SIBLINGS:
        notes.append(f"only the first {MAX_SIBLINGS} of {len(candidates)} sibling checkpoints compared")
    return siblings, notes


def _mark_other_models(entries: list[DirectoryEntry], signatures: list[frozenset]) -> None:
    """Checkpoints whose weight shapes differ from the folder's main model (the one with the most
    checkpoints, then the furthest step) are another model: its later step says nothing about this run."""
    groups: dict[frozenset, list[DirectoryEntry]] = {}
    for entry, signature in zip(entries, signatures):
        groups.setdefault(signature, []).append(entry)
    if len(groups) < 2:
        return
    main = max(groups.values(), key=lambda g: (len(g), max((e.step or 0) for e in g)))
    for group in groups.values():
        if group is not main:
            for entry in group:
                entry.other_model = True


def shape_signature(raw: RawCheckpoint) -> frozenset:
    """The distinct parameter shapes: equal for every checkpoint of one model (a tied copy or not).

    Buffers stay out: a llama2.c .bin export carries its RoPE tables, the training checkpoint does not,
    and the two are still one model.
    """
    from tsdiag.checkpoint.anatomy import is_buffer

    return frozenset(tuple(ref.shape) for name, ref in raw.weights.items() if not is_buffer(name, ref))


def _looks_like_checkpoint(path: Path) -> bool:
    if path.is_dir():
        return is_hf_folder(path)
    return path.suffix in CHECKPOINT_SUFFIXES and path.stat().st_size > 0


def inspect_raw(raw: RawCheckpoint, *, config: Document | None = None, thresholds: Thresholds | None = None,
                health: bool = True, siblings: bool = True, full_scan: bool = False,
                progress: Callable[[int, int], None] | None = None,
                sibling_folder: Path | None = None, tokenizer=None, bytes_per_token=None,
                article_ids: list[int] | None = None) -> CheckpointInspection:
    from tsdiag.checkpoint.health import check_health
    from tsdiag.checkpoint.rules import evaluate

    t = thresholds or Thresholds()
    interpreter = Interpreter(raw.documents, config)
    recorded = {**interpreter.recorded_architecture(), **raw.recorded_arch}
    label = raw.path.name
    arch = describe(raw.weights, recorded, label, prefix=f"{raw.weights_key}." if raw.weights_key else "")
    training = interpreter.training_state()
    _fill_from_name(training, raw.path.name, training.optimizer.step if training.optimizer else None)
    trainer = _trainer(raw)
    hyper = interpreter.hyperparameters(trainer if trainer in ("llama2.c", "nanoGPT") else None,
                                        training.optimizer, training.scheduler)
    notes = list(raw.notes)
    if raw.stripped_prefixes:
        notes.append("weight names normalised: " + ", ".join(
            f"added {p[1:]}" if p.startswith("+") else f"removed {p}" for p in raw.stripped_prefixes))
    rec_vocab = recorded.get("vocab_size")
    if rec_vocab is not None and arch.vocab_size is not None and rec_vocab.value != arch.vocab_size.value:
        notes.append(f"{rec_vocab.source} records vocab_size {rec_vocab.value}, the embedding has "
                     f"{arch.vocab_size.value} rows (the embedding is used)")
    inspection = CheckpointInspection(
        path=raw.path, format=raw.format, layout=raw.layout, trainer=trainer, weights_key=raw.weights_key,
        stripped_prefixes=raw.stripped_prefixes, architecture=arch, training=training, hyperparameters=hyper,
        file=file_facts(raw.path))
    if health:
        init_range = recorded.get("initializer_range")
        emb_shape = raw.weights[arch.embedding_name].shape if arch.embedding_name in raw.weights else None
        # a tied embedding gets the output layer's gradient in every row: no row can stay frozen
        untied = arch.get("tied_output") is False
        moment = _embedding_moment(raw.documents, emb_shape) if emb_shape and untied else None
        inspection.health = check_health(raw.weights, arch, t, other_tensors=_tensors_in(raw.documents),
                                         init_range=init_range.value if init_range else None,
                                         optimizer_embedding_state=moment, label=label, full_scan=full_scan,
                                         progress=progress)
        if inspection.health.sampled:
            notes.append(f"health judged large matrices on evenly spaced rows (up to "
                         f"{inspection.health.sample_rows_max:,} values each)")
        if not inspection.health.full_scan:
            notes.append("NaN/Inf: every weight scanned; optimizer state on its first 16 MiB per tensor "
                         "(--full-scan reads all of it)")
    if siblings:
        inspection.siblings, sibling_notes = sibling_checkpoints(raw.path, shape_signature(raw), sibling_folder)
        notes.extend(sibling_notes)
    inspection.notes = notes + interpreter.notes
    inspection.tokenizer = tokenizer
    from tsdiag.checkpoint.rules import tokenizer_fits

    if tokenizer is not None and bytes_per_token is None:
        from tsdiag.units import reference_bytes_per_token

        bytes_per_token = reference_bytes_per_token(tokenizer)
    # another model's tokenizer gives another model's bytes per token: no per-byte figure then
    inspection.bytes_per_token = bytes_per_token if tokenizer_fits(inspection, t) else None
    if article_ids:
        inspection.article_ids = Sourced(list(article_ids), "--article-ids", RECORDED)
    elif "article_ids" in hyper:
        inspection.article_ids = hyper["article_ids"]
    inspection.findings = evaluate(inspection, t)
    return inspection


def inspect_checkpoint(path: str | Path, *, config: str | Path | None = None, thresholds: Thresholds | None = None,
                       allow_unsafe_pickle: bool = False, health: bool = True, siblings: bool = True,
                       full_scan: bool = False, sibling_folder: str | Path | None = None,
                       progress: Callable[[int, int], None] | None = None, tokenizer=None,
                       bytes_per_token=None, article_ids: list[int] | None = None) -> CheckpointInspection:
    """Facts and findings about one checkpoint file or Hugging Face folder.

    ``config`` is a YAML/JSON training config that supplies settings the
    checkpoint lacks; ``health=False`` skips reading weight values;
    ``siblings=False`` skips comparing with other checkpoints of the same model in the folder
    (``sibling_folder``: another folder to compare with, such as the training's checkpoint folder);
    ``full_scan=True`` scans all optimizer state for NaN/Inf, not only its first 16 MiB per tensor;
    ``tokenizer`` (a :class:`tsdiag.tokenizer.Tokenizer`) judges losses per byte and names the pieces of
    weighted ``article_ids`` (given, or recorded in the checkpoint's config).
    """
    raw = read_checkpoint(Path(path), allow_unsafe_pickle=allow_unsafe_pickle)
    document = load_config(config) if config is not None else None
    return inspect_raw(raw, config=document, thresholds=thresholds, health=health, siblings=siblings,
                       full_scan=full_scan, progress=progress,
                       sibling_folder=Path(sibling_folder) if sibling_folder is not None else None,
                       tokenizer=tokenizer, bytes_per_token=bytes_per_token, article_ids=article_ids)


def inspect_directory(path: str | Path, *, allow_unsafe_pickle: bool = False) -> DirectoryListing:
    """Every checkpoint in a folder with step, val loss and mtime, sorted by step; newest and best marked."""
    path = Path(path)
    check_exists(path)
    if not path.is_dir():
        raise InputError(path, "not a folder")
    listing = DirectoryListing(path=path, entries=[])
    signatures: list[frozenset] = []
    for candidate in sorted(path.iterdir()):
        if candidate.name.startswith(".") or not (_looks_like_checkpoint(candidate) or (
                candidate.is_file() and reader_for(candidate) is not None and candidate.stat().st_size > 0)):
            continue
        try:
            raw = read_checkpoint(candidate, allow_unsafe_pickle=allow_unsafe_pickle)
        except InputError as exc:
            listing.skipped.append((candidate, exc.problem))
            continue
        training = summarize_training(raw)
        signatures.append(shape_signature(raw))
        stat = candidate.stat()
        listing.entries.append(DirectoryEntry(
            path=candidate, format=raw.format, step=training.step.value if training.step else None,
            epoch=training.epoch.value if training.epoch else None,
            val_loss=training.val_loss.value if training.val_loss else None, mtime=stat.st_mtime,
            size_bytes=file_facts(candidate).size_bytes,
            step_source=training.step.source if training.step else "",
            val_loss_source=training.val_loss.source if training.val_loss else ""))
    if not listing.entries:
        detail = f" ({len(listing.skipped)} unreadable)" if listing.skipped else ""
        raise InputError(path, f"no checkpoints found in this folder{detail}")
    _mark_other_models(listing.entries, signatures)
    listing.entries.sort(key=lambda e: (e.step is None, e.step if e.step is not None else 0, e.mtime))
    main = [e for e in listing.entries if not e.other_model]
    with_step = [e for e in main if e.step is not None]
    newest = max(with_step, key=lambda e: (e.step, e.mtime)) if with_step else max(main, key=lambda e: e.mtime)
    newest.newest = True
    with_loss = [e for e in main if isinstance(e.val_loss, (int, float)) and e.val_loss == e.val_loss]
    if with_loss:
        min(with_loss, key=lambda e: e.val_loss).best = True
    return listing
