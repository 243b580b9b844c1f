"""Every number a rule compares against, in one place.

Rules never contain magic numbers: they read them from a :class:`Thresholds`
instance.  Defaults below carry their unit and the reason for the value; a
project can override any of them in its ``pyproject.toml``::

    [tool.tsdiag.thresholds]
    val_loss_high = 2.5
    lr_max = 2e-3

Unknown keys are an error (a typo must not silently keep the default).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsdiag.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def _t(default: Any, unit: str, why: str) -> Any:
    return field(default=default, metadata={"unit": unit, "why": why})


@dataclass(frozen=True)
class Thresholds:
    # --- H2: stopped too early -------------------------------------------
    val_loss_high: float = _t(
        2.0, "nats/token",
        "TinyStories models above ~2.0 val loss still write broken English "
        "(llama2.c's smallest published model reaches 1.297 with a 512 vocab).")
    early_stop_fraction: float = _t(
        0.9, "fraction of max_iters",
        "a checkpoint saved before this share of the planned steps is an unfinished run.")
    still_improving_per_1k: float = _t(
        0.02, "nats per 1k steps",
        "a loss still falling faster than this over the last window of a log means more steps would help.")
    log_tail_fraction: float = _t(
        0.2, "fraction of logged steps",
        "the window at the end of a curve used to measure whether it is still falling.")
    loss_high_bits_per_byte: float = _t(
        1.2, "bits/byte (bits/char for a char-level vocabulary)",
        "val_loss_high per byte of text: 2.0 nats/token at the ~2.4 bytes/token of a 512-piece TinyStories "
        "tokenizer; llama2.c's stories260K (vocab 512) reaches ~0.8, stories15M (vocab 32K) ~0.4. Used instead "
        "of val_loss_high wherever the tokenizer is known, so vocabularies and char models compare fairly.")
    early_stop_strong_fraction: float = _t(
        0.25, "fraction of max_iters",
        "a checkpoint at or below this share of its planned steps is decisive evidence of a run stopped early.")
    still_improving_per_doubling: float = _t(
        0.05, "nats per doubling of the steps",
        "a tail still falling faster than this against log2(step) would gain measurably from twice the steps.")
    still_improving_strong_per_doubling: float = _t(
        0.4, "nats per doubling of the steps",
        "a tail falling this fast is early in learning: twice the steps would change the model a lot.")
    chance_short_run_steps: int = _t(
        1000, "steps",
        "a run this short that never left ln(vocab) was stopped before it began to learn (llama2.c warms up "
        "for 1,000 steps); a longer one that never left it has a learning failure (lr, data).")
    overfit_val_rise: float = _t(
        0.05, "nats/token",
        "val loss this far above its best at a later evaluation, while the train loss is below it, is "
        "memorisation of too little data.")
    overfit_strong_rise: float = _t(
        0.3, "nats/token",
        "a val loss this far above its best leaves no doubt that the model memorises its training data.")

    # --- H3: hyperparameters ----------------------------------------------
    lr_max: float = _t(
        1e-3, "learning rate",
        "above 1e-3 small decoders on TinyStories tend to diverge or plateau (llama2.c uses 5e-4).")
    dropout_high: float = _t(
        0.2, "dropout probability",
        "llama2.c and nanoGPT pretrain with 0.0 (0.1 at most on small data); above 0.2 a small model learns slowly.")
    dropout_strong: float = _t(
        0.5, "dropout probability",
        "at this dropout half of every activation is dropped: a small model cannot fit TinyStories in a short run.")
    lr_high_strong_factor: float = _t(
        10.0, "x lr_max",
        "an lr this many times lr_max (1e-2 by default) is decisive: small decoders do not train there.")
    min_lr_ratio: float = _t(
        0.1, "min_lr / learning_rate",
        "the Chinchilla/llama2.c convention decays to a tenth of the peak.")
    min_lr_ratio_tolerance: float = _t(
        0.25, "relative",
        "how far min_lr/lr may stray from the convention before it is flagged.")
    decay_iters_tolerance: float = _t(
        0.02, "relative",
        "lr_decay_iters may differ from max_iters by this share before the schedule counts as mismatched.")
    loss_spike_factor: float = _t(
        1.5, "x running minimum",
        "a logged loss this many times above the best loss so far is a spike (divergence if it stays).")

    # --- H4: vocabulary -------------------------------------------------------
    vocab_reference: int = _t(
        10_000, "tokens",
        "a top-~10K vocabulary covers TinyStories (the paper's GPT-Neo top-10K).")
    vocab_large_factor: float = _t(
        2.0, "x vocab_reference",
        "a vocabulary this many times the reference is flagged as large (a contributing factor, not a cause).")
    embedding_share_large: float = _t(
        0.5, "share of parameters",
        "a model whose embeddings are over half its parameters spends its budget on vocabulary rows "
        "(llama2.c's fluent stories15M: 61% with 32K tokens; stories260K: 13% with 512).")
    embedding_share_strong: float = _t(
        0.85, "share of parameters",
        "at this embedding share the transformer itself is a sliver of the model: the vocabulary is what limits it.")
    vocab_padding_max: int = _t(
        128, "embedding rows",
        "trainers pad the embedding past the tokenizer's pieces to a multiple of 64 or 128 (nanoGPT: 50,257 -> "
        "50,304); more extra rows than this mean the tokenizer is another model's.")
    coverage_sufficient: float = _t(
        0.99, "share of tokens",
        "if the top vocab_reference ids cover this share of the data, a smaller vocabulary loses almost nothing.")

    # --- H5: wrong checkpoint / weights ---------------------------------------
    init_std_tolerance: float = _t(
        0.05, "relative",
        "a weight matrix whose std is within this of its init std (and whose other statistics match) has not moved.")
    init_matrix_fraction: float = _t(
        0.9, "share of matrices",
        "when at least this share of weight matrices look like init, the checkpoint is called untrained.")
    rule_out_init_share: float = _t(
        0.15, "share of matrices",
        "a checkpoint rules out H5 by its weight health only when at most this share of its matrices still read "
        "'at init'; more is what an early checkpoint looks like.")
    frozen_row_fraction: float = _t(
        0.05, "share of embedding rows",
        "embedding rows that never moved from init belong to tokens never seen; above this share it is worth a warning.")
    stale_val_loss_margin: float = _t(
        0.01, "nats/token",
        "a checkpoint this much worse than the best one in the same folder is flagged as not the best.")
    initial_loss_tolerance: float = _t(
        0.1, "relative",
        "a first logged loss within this of ln(vocab) means training started from fresh weights.")

    # --- checkpoint inspection (tsdiag inspect) ---------------------------------
    init_spectral_ratio_max: float = _t(
        1.1, "top singular value / Marchenko-Pastur edge",
        "i.i.d. init noise stays at or below ~1.04 of the edge std*(sqrt(rows)+sqrt(cols)); learned structure rises above.")
    init_z_max: float = _t(
        6.0, "standard errors",
        "a matrix statistic (std, kurtosis, mean, row-norm spread) this many standard errors from a fresh init's "
        "is not init; 6 keeps false alarms away even for 8x16 matrices.")
    optimizer_reset_min_steps: int = _t(
        10, "steps",
        "AdamW's step count equals the run's step in llama2.c, nanoGPT, Lightning and HF Trainer checkpoints "
        "(measured on the accuracy corpus, 2026-12-03); a gap of this many steps is a reset, not bookkeeping.")
    warmup_needed_lr: float = _t(
        5e-4, "learning rate",
        "at or above llama2.c's 5e-4 peak, starting without warmup risks early loss spikes (llama2.c warms up "
        "for 1000 steps).")

    # --- H1: data --------------------------------------------------------------
    article_rate_low_ratio: float = _t(
        0.5, "x reference rate",
        "packed sequences with under half the reference article rate mean the data lost its articles.")
    article_rate_warn_ratio: float = _t(
        0.75, "x reference rate",
        "below three quarters of the reference article rate the data is suspicious.")
    zero_article_share: float = _t(
        0.05, "share of sequences",
        "real TinyStories windows of 512 tokens almost always hold an article; more empty ones point at broken data.")
    zero_article_expected_factor: float = _t(
        3.0, "x the share expected in real text",
        "short windows lack an article by chance: (1 - reference rate)^(words per window) of them if articles "
        "fell independently; real text clusters them, about 1.7x that on TinyStories at 64 tokens.")
    zero_run_min: int = _t(
        64, "tokens",
        "a run of id 0 at least this long is zero-filled (pre-allocated, never written) data.")
    repeat_run_min: int = _t(
        256, "tokens",
        "a run of one id at least this long is a repeated region, not text.")
    article_source_min_words: int = _t(
        1000, "words",
        "a shard with fewer words has too noisy an article rate to be named as far below the other shards.")
    tokenizer_round_trip_min: float = _t(
        0.5, "share of sampled windows",
        "ids made by the tokenizer survive decode -> encode (edges aside); below this share the shards were made "
        "with another tokenizer.")
    duplicate_sequence_share: float = _t(
        0.01, "share of sequences",
        "exact duplicate windows above this share mean data was written twice or the cache is stale.")
    naive_article_overcount: float = _t(
        1.3, "x word-level count",
        "when the naive per-id article count exceeds the word-level count by this factor, naive numbers mislead.")
    dtype_zero_share: float = _t(
        0.3, "share of tokens",
        "uint32 ids read as uint16 put a 0 high half after every id; a third of all tokens being id 0 is that, not text.")
    separator_gap_max: int = _t(
        8192, "tokens per separator",
        "TinyStories stories are ~200 tokens; no BOS/EOS in this many tokens means stories run into each other.")
    val_leak_share: float = _t(
        0.01, "share of val stories",
        "TinyStories' train and validation splits share no story; a val story found in train is a split made "
        "from overlapping text (or a val file copied from train), and more than 1% makes the val loss optimistic.")
    val_leak_strong_share: float = _t(
        0.2, "share of val stories",
        "a fifth of the val set seen in training: its loss measures memory, and a best-val checkpoint chosen "
        "by it is chosen by memory.")
    duplicate_story_share: float = _t(
        0.01, "share of training stories",
        "whole stories repeated wherever they sit (not only in aligned windows): above 1% the data was written "
        "twice or concatenated with a copy of itself.")
    story_min_tokens: int = _t(
        16, "tokens",
        "shorter segments between separators (a title, an empty story) repeat by chance and are not hashed.")
    unused_vocab_share: float = _t(
        0.5, "share of vocabulary rows",
        "when most embedding rows never occur in the data, the model pays for a vocabulary it cannot learn.")
    coverage_min_tokens_per_row: float = _t(
        10.0, "tokens per vocabulary row",
        "coverage and unused-row verdicts need data much larger than the vocabulary; a small sample leaves rows unseen by chance.")
    byte_fallback_share: float = _t(
        0.01, "share of tokens",
        "English stories need byte-fallback pieces for under 1% of tokens; more means the vocabulary misses the text.")

    # --- generated text (tsdiag sample) --------------------------------------------
    sample_min_words: int = _t(
        50, "words in the distinct samples",
        "repetition and article-excess verdicts need this much generated text; a few words repeat or hold "
        "articles by chance.")
    sample_repeat_share: float = _t(
        0.3, "share of word 4-grams",
        "a 4-gram repeating an earlier one of the same sample is rare in real stories: 100-word windows of "
        "shared/data/tinystories (437 windows, measured 2026-12-03) have a median of 0, p99 0.06, max 0.12.")
    sample_repeat_strong_share: float = _t(
        0.6, "share of word 4-grams",
        "most of the text repeats itself: a loop (\"and and and\"), not a story.")
    sample_loop_words: int = _t(
        24, "words",
        "the longest back-to-back repetition of a unit of up to 8 words in real TinyStories text is 12 words "
        "(1,747 windows of 40-200 words, measured 2026-12-03); twice that is a decoding loop.")
    sample_loop_strong_words: int = _t(
        48, "words",
        "a loop this long is half a sample's worth of one phrase repeated.")
    sample_loop_chars: int = _t(
        64, "characters",
        "the longest back-to-back repetition of a unit of up to 16 characters in a real TinyStories story is "
        "30 (269 stories of shared/data/tinystories, measured 2026-12-03); a char model's run of spaces is longer.")
    sample_loop_strong_chars: int = _t(
        128, "characters",
        "four times the longest loop of real text: the sample is one unit repeated.")
    article_rate_high_ratio: float = _t(
        2.0, "x reference rate",
        "too many articles is as much a symptom as too few (\"the the the\"): real 100-word windows reach at "
        "most 2.2x the reference rate (21 per 100 words, measured 2026-12-03), several samples together less.")
    article_rate_high_strong_ratio: float = _t(
        3.0, "x reference rate",
        "no window of real TinyStories text of 40 words or more reaches 3x the reference article rate.")

    # --- W: article-weighted loss -------------------------------------------------
    weighted_ratio_low: float = _t(
        0.5, "article loss / other loss",
        "the origin project's weighted run fell to 0.34x: the model fits articles at the cost of everything else.")
    other_loss_margin: float = _t(
        0.05, "nats/token",
        "a weighted run whose other-token loss is this much above the matched standard run's is worse.")
    other_loss_strong_margin: float = _t(
        0.2, "nats/token",
        "a gap this large between a matched pair is far outside seed-to-seed spread (a few hundredths): the "
        "weighting made the model worse.")

    # --- eval: the model run on the data (tsdiag eval) ------------------------------
    eval_gap_margin: float = _t(
        0.1, "nats/token",
        "beyond its own bootstrap interval, an evaluated loss may stand this far above a loss the run recorded: "
        "llama2.c and nanoGPT estimate val loss on a few hundred random windows (about +-0.05).")
    eval_gap_strong: float = _t(
        0.5, "nats/token",
        "a gap this large is no sampling noise: the checkpoint, the data or the tokenizer is not the run's.")
    label_shift_margin: float = _t(
        0.3, "nats/token",
        "another target offset must fit this much better than the next token before the labels count as shifted; "
        "a correct model fits offset 1 by several nats.")
    future_leak_ratio: float = _t(
        0.5, "future-visible loss / causal loss",
        "a causal model loses when it sees the whole window (it never learned to use it); one trained with a "
        "leaking mask reads the next token off it and its loss drops below half.")
    future_leak_strong: float = _t(
        0.1, "future-visible loss / causal loss",
        "at a tenth of the causal loss the model copies the next token: the mask leaked in training.")
    causal_logit_tolerance: float = _t(
        1e-3, "logit",
        "float32 logits at or before a position change by rounding only when later tokens change.")
    article_avoid_factor: float = _t(
        0.5, "P(article at an article slot) / articles' share of targets",
        "a model that learned context puts several times the articles' unigram share on an article where the "
        "text has one (a healthy 1,500-step llama2.c run: 7x); below half of it, it avoids articles.")
    article_avoid_strong: float = _t(
        0.35, "P(article at an article slot) / articles' share of targets",
        "a model that learned context and gives articles a third of a context-free guess has learned they rarely "
        "come (llama2.c trained on article-stripped TinyStories: 0.34x; article pieces that also start other "
        "words keep it above 0).")
    eval_min_slots: int = _t(
        50, "article slots",
        "article-slot figures from fewer slots than this are too noisy to judge.")
    context_learned_margin: float = _t(
        0.2, "nats/token",
        "the model must score this far below the targets' unigram entropy before its article slots say what it "
        "learned (an untrained model avoids every word alike).")
    norm_moved_min: float = _t(
        0.01, "mean |scale - 1|",
        "trained norms move their scales by more than this from the init of 1; a final norm exactly at 1 while "
        "the blocks' moved was never trained.")

    # --- logs: reading loss curves ------------------------------------------------
    log_tail_min_points: int = _t(
        3, "logged points",
        "the end-of-curve window holds at least this many points; shorter curves get no trend verdict.")
    slope_t_min: float = _t(
        2.0, "slope / standard error",
        "a falling tail counts as still improving only when its slope stands this far out of batch-to-batch noise.")
    resume_loss_jump: float = _t(
        1.15, "x the loss before the resume",
        "a correct llama2.c resume continues within 1% (5.18 -> 5.20 at step 100 of the accuracy corpus, 2026-12-03) "
        "and batch noise between logged points stays within a few percent; 15% higher is lost state.")
    spike_warmup_fraction: float = _t(
        0.1, "fraction of logged steps",
        "spikes are looked for only after this opening share of the curve, where the loss is still plunging.")

    @classmethod
    def fields_doc(cls) -> list[tuple[str, Any, str, str]]:
        """(name, default, unit, why) for every threshold, for docs and ``--help``."""
        return [(f.name, f.default, f.metadata["unit"], f.metadata["why"]) for f in dataclasses.fields(cls)]

    def override(self, values: dict[str, Any], source: str = "overrides") -> "Thresholds":
        """A copy with ``values`` applied; unknown names or wrong types are an :class:`InputError`."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise InputError(source, f"unknown threshold {name!r} (known: {', '.join(sorted(known))})")
            expected = type(known[name].default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(source, f"threshold {name!r} must be a number, got {value!r}")
            changes[name] = expected(value)
        return dataclasses.replace(self, **changes)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_thresholds(pyproject: Path | None = None, *, search_from: Path | None = None) -> Thresholds:
    """Defaults, overridden by ``[tool.tsdiag.thresholds]`` of ``pyproject``.

    With no explicit file, the nearest ``pyproject.toml`` above ``search_from``
    (default: the current directory) is used if it has a ``[tool.tsdiag]`` table.
    """
    explicit = pyproject is not None
    if pyproject is None:
        pyproject = find_pyproject(search_from or Path.cwd())
        if pyproject is None:
            return Thresholds()
    try:
        with open(pyproject, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(pyproject, "settings file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(pyproject, f"cannot read settings: not UTF-8 text ({exc.reason})") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(pyproject, f"cannot read settings: {exc}") from None
    table = data
    for key in ("tool", "tsdiag", "thresholds"):
        table = table.get(key) if isinstance(table, dict) else table
    if table is None:
        if explicit:  # a file named with --settings without the table: a wrong file or a typo in the table name
            raise InputError(pyproject, "no [tool.tsdiag.thresholds] table in this settings file")
        table = {}
    if not isinstance(table, dict):
        raise InputError(pyproject, "[tool.tsdiag.thresholds] must be a table")
    return Thresholds().override(table, source=f"{pyproject} [tool.tsdiag.thresholds]")
