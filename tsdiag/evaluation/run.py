"""``tsdiag.evaluate``: the checkpoint run on the data, teacher-forced, as its trainer packed the windows."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tsdiag.data.layouts import LAYOUTS
from tsdiag.errors import InputError
from tsdiag.evaluation.facts import ArticleFigures, EvalFacts, LossEstimate, RecordedLoss, TextScore, unigram_entropy
from tsdiag.evaluation.models import LoadedModel, load_model
from tsdiag.evaluation.scoring import ArticleSlots, score_windows
from tsdiag.evaluation.windows import WindowPlan, iter_windows, plan_windows
from tsdiag.tokenizer import ARTICLE_WORDS

DEFAULT_MAX_TOKENS = 262_144      # targets scored: a loss interval of about +-0.01 nats on story text
BATCH_TOKENS = {"cpu": 16_384, "cuda": 131_072}  # tokens per forward pass


def evaluate(checkpoint: str | Path, data: Sequence[str | Path], *, tokenizer: str | Path | None = None,
             layout: str = "llama2c", seq_len: int | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
             batch_size: int | None = None, dtype: str = "uint16", text_column: str = "text",
             device: str | None = None, n_heads: int | None = None, log: str | Path | None = None,
             against: str | Path | None = None, reference: bool = True, probes: bool = True,
             article_words: Sequence[str] = ARTICLE_WORDS, vocab_padding_max: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> EvalFacts:
    """Teacher-forced evaluation of ``checkpoint`` on ``data`` (shards or text, as ``audit-data`` reads them).

    ``progress(done, total)`` is called with windows scored. ``against`` (a matched standard run's
    checkpoint) is evaluated on the same windows. ``log`` adds the run's last logged loss to compare with.
    """
    import torch

    from tsdiag.thresholds import Thresholds

    if layout not in LAYOUTS:
        raise InputError("--layout", f"{layout!r} is not a layout (use {', '.join(LAYOUTS)})")
    if max_tokens < 1:
        raise InputError("--max-tokens", "must be at least 1")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    padding = Thresholds().vocab_padding_max if vocab_padding_max is None else vocab_padding_max
    started = time.perf_counter()
    tok = _load_tokenizer(tokenizer)
    loaded = load_model(checkpoint, n_heads=n_heads)
    _check_tokenizer(loaded, tok, padding)
    seq_len = _seq_len(loaded, seq_len, checkpoint)
    loaded.model.to(device)
    slots = ArticleSlots.build(tok, article_words) if tok is not None else None
    with tempfile.TemporaryDirectory(prefix="tsdiag-eval-") as workdir:
        arrays, names = _open_data(data, tok, dtype, text_column, Path(workdir))
        _check_ids(arrays, names, loaded)
        plan = plan_windows([len(a) for a in arrays], layout, seq_len, max_tokens)
        if plan.windows == 0:
            raise InputError(names[0], f"holds fewer tokens than one {layout} window of {plan.span} tokens")
        batch = batch_size or max(1, BATCH_TOKENS.get(torch.device(device).type, 16_384) // plan.span)
        total = plan.windows
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        totals = score_windows(loaded.model, iter_windows(arrays, plan, batch), vocab_size=loaded.vocab_size,
                               device=device, articles=slots, on_batch=step)
        first = next(iter_windows(arrays, plan, 8)) if probes else None
    scores = {"data": _text_score("data", ", ".join(names), totals)}
    if reference and tok is not None:
        ref = _reference_score(loaded, tok, slots, layout, seq_len, max_tokens, batch, device)
        if ref is not None:
            scores["reference"] = ref
    facts = EvalFacts(
        checkpoint=str(checkpoint), family=loaded.family, data=names,
        tokenizer=str(tokenizer) if tokenizer else None, layout=layout, seq_len=seq_len, plan=plan,
        device=device, precision="bf16 autocast" if torch.device(device).type == "cuda" else "float32",
        scores=scores, bytes_per_token=_bytes_per_token(tok), recorded=_recorded(loaded, log),
        recipe=_recipe(loaded))
    if probes:
        from tsdiag.evaluation.probes import run_probes

        facts.probes = run_probes(loaded, first, device=device, dropout=facts.recipe.get("dropout"))
    if against is not None:
        facts.against = evaluate(against, data, tokenizer=tokenizer, layout=layout, seq_len=seq_len,
                                 max_tokens=max_tokens, batch_size=batch_size, dtype=dtype, text_column=text_column,
                                 device=device, n_heads=n_heads, reference=reference, probes=False,
                                 article_words=article_words, vocab_padding_max=padding)
    facts.seconds = time.perf_counter() - started
    return facts


def _load_tokenizer(path):
    if path is None:
        return None
    from tsdiag.tokenizer import load_tokenizer

    return load_tokenizer(path)


def _check_tokenizer(loaded: LoadedModel, tok, padding: int) -> None:
    """The tokenizer must be the model's: no more pieces than rows, and at most ``padding`` rows more."""
    if tok is None:
        return
    rows, pieces = loaded.vocab_size, tok.vocab_size
    if not pieces <= rows <= pieces + padding:
        raise InputError(tok.path, f"has {pieces:,} pieces, the checkpoint's embedding {rows:,} rows: not the "
                                   f"tokenizer this model was trained with")


def _seq_len(loaded: LoadedModel, seq_len: int | None, checkpoint) -> int:
    context = loaded.context
    if seq_len is None:
        if context is None:
            raise InputError(checkpoint, "records no sequence length: pass --seq-len")
        return context
    if seq_len < 2:
        raise InputError("--seq-len", "must be at least 2")
    if context is not None and seq_len > context:
        raise InputError("--seq-len", f"{seq_len} is longer than the model's context of {context} positions")
    return seq_len


def _open_data(paths, tok, dtype: str, text_column: str, workdir: Path) -> tuple[list[np.ndarray], list[str]]:
    from tsdiag.data.shards import open_sources

    sources = open_sources(paths, dtype=dtype, tokenizer=tok, text_column=text_column, workdir=workdir)
    if not sources:
        raise InputError(", ".join(map(str, paths)), "no data files found")
    return [s.open() for s in sources], [str(s.path) for s in sources]


def _check_ids(arrays, names, loaded: LoadedModel) -> None:
    """Ids past the embedding would index nothing: another tokenizer's data, or the wrong --dtype."""
    for array, name in zip(arrays, names):
        if len(array) and int(array.max()) >= loaded.vocab_size:
            raise InputError(name, f"holds id {int(array.max()):,}, past the model's {loaded.vocab_size:,} "
                                   f"embedding rows: data of another tokenizer (or the wrong --dtype)")


def _text_score(name: str, source: str, totals) -> TextScore:
    articles = ArticleFigures.of(totals) if totals.article_targets + totals.other_targets else None
    return TextScore(name, source, LossEstimate.of(totals.window_nll, totals.targets_per_window),
                     unigram_entropy(totals.target_counts), articles)


def _reference_score(loaded, tok, slots, layout, seq_len, max_tokens, batch, device) -> TextScore | None:
    """The same measurement on tsdiag's bundled stories (None when the tokenizer cannot spell them)."""
    from tsdiag.data.shards import encode_stories
    from tsdiag.demo.storygen import generate_corpus
    from tsdiag.units import REFERENCE_STORIES

    try:
        ids = encode_stories(tok, generate_corpus(REFERENCE_STORIES), "tsdiag's bundled story text")
    except InputError:
        return None  # a character vocabulary without some letter of the bundled text
    plan: WindowPlan = plan_windows([len(ids)], layout, seq_len, max_tokens)
    if plan.windows == 0:
        return None
    totals = score_windows(loaded.model, iter_windows([ids], plan, batch), vocab_size=loaded.vocab_size,
                           device=device, articles=slots)
    return _text_score("reference", f"tsdiag's bundled story text ({REFERENCE_STORIES} stories)", totals)


def _bytes_per_token(tok):
    """Bytes per token on the bundled stories (the unit of bits per byte), with its source."""
    if tok is None:
        return None
    from tsdiag.units import reference_bytes_per_token

    return reference_bytes_per_token(tok)


def _recorded(loaded: LoadedModel, log) -> list[RecordedLoss]:
    """The losses the run recorded: the checkpoint's val loss, and the log's last val (else train) loss."""
    out = []
    training = loaded.inspection.training
    val = training.val_loss or training.best_val_loss
    if val is not None and isinstance(val.value, (int, float)):
        step = training.step.value if training.step is not None else None
        out.append(RecordedLoss("checkpoint", float(val.value), val.source, "val", step))
    if log is not None:
        from tsdiag.logs import parse_log

        curve = parse_log(Path(log))
        for split, series in (("val", curve.val), ("train", curve.train)):
            if len(series):
                steps, values = series.arrays()
                finite = np.isfinite(values)
                if finite.any():
                    i = int(np.flatnonzero(finite)[-1])
                    out.append(RecordedLoss("log", float(values[i]), f"{Path(log).name}: {split} loss, step "
                                                                     f"{steps[i]:g}", split, float(steps[i])))
                    break
    return out


def _recipe(loaded: LoadedModel) -> dict:
    """What the checkpoint records of its training objective and dropout."""
    h = loaded.inspection.hyperparameters
    recipe = {}
    for key in ("dropout", "article_weight"):
        value = h.get(key)
        if value is not None and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            recipe[key] = float(value.value)
            recipe[f"{key}_source"] = value.source
    return recipe
