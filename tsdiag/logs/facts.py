"""Loss curves as logged, and the facts measured on them.

:class:`LossCurve` is what a log parser returns: every logged quantity as a
:class:`Series` of (step, value) points in log order, plus the run settings
the log itself states (vocabulary size, planned steps).  :func:`measure_curve`
turns a curve into :class:`CurveFacts`: plain numbers that rules judge and
reports show.  Nothing here reads files or decides what is wrong.
"""

from __future__ import annotations

from typing import Any

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from tsdiag.thresholds import Thresholds


class Series:
    """(step, value) points of one logged quantity, array-backed to stay small on long logs."""

    __slots__ = ("steps", "values")

    def __init__(self) -> None:
        self.steps = array("d")
        self.values = array("d")

    def add(self, step: float, value: float) -> None:
        self.steps.append(step)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.values)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies as float64 arrays (copies, so the series can still grow)."""
        return np.frombuffer(self.steps, dtype=np.float64).copy(), np.frombuffer(self.values, dtype=np.float64).copy()


@dataclass(frozen=True)
class Recorded:
    """A run setting the log states, with where it says so."""

    value: int | float
    source: str


@dataclass
class LossCurve:
    """Everything a training log says about the loss, as logged."""

    path: str
    format: str
    train: Series = field(default_factory=Series)
    val: Series = field(default_factory=Series)
    #: train loss estimated at evaluation time (``step N: train loss …``)
    eval_train: Series = field(default_factory=Series)
    lr: Series = field(default_factory=Series)
    article_loss: Series = field(default_factory=Series)
    other_loss: Series = field(default_factory=Series)
    ratio: Series = field(default_factory=Series)
    #: non-blank lines (text logs), rows (CSV/JSONL) or log_history entries
    total_lines: int = 0
    #: of those, how many matched nothing this format understands
    skipped_lines: int = 0
    #: "vocab_size" and "planned_steps" when the log states them
    settings: dict[str, Recorded] = field(default_factory=dict)
    #: a last line with no line end (log still being written, or cut), left out
    partial_last_line: str | None = None

    @property
    def has_losses(self) -> bool:
        return bool(len(self.train) or len(self.val) or len(self.eval_train))


# ------------------------------------------------------------------- facts

@dataclass(frozen=True)
class Point:
    step: int | float
    value: float


@dataclass(frozen=True)
class SeriesSummary:
    points: int
    first: Point
    last: Point
    min: Point | None  # None when no value is finite


@dataclass(frozen=True)
class TailFacts:
    """Least-squares fit over the last window of the curve."""

    start_step: int | float
    end_step: int | float
    points: int
    slope_per_1k: float  # nats per 1,000 steps; negative = still falling
    slope_stderr_per_1k: float | None  # None with exactly two distinct points
    median: float
    per_doubling: float | None = None  # nats per doubling of the steps (negative = still falling)


@dataclass(frozen=True)
class SpikeEvent:
    start_step: int | float
    end_step: int | float
    points: int
    peak_loss: float
    running_min: float  # the best loss seen before the spike


@dataclass(frozen=True)
class LrFacts:
    points: int
    first: Point
    peak: Point
    final: Point
    final_over_peak: float
    #: step at which the peak is first reached when the log shows the lr rising;
    #: 0 when the lr logged at step 0 (or 1, for trainers counting from 1) is already the peak; None when the log
    #: cannot tell (it starts after step 0 at the peak, or the lr still rises at its end)
    warmup_steps: int | float | None
    constant: bool
    decays_to_min_lr_ratio: bool


@dataclass(frozen=True)
class ArticleFacts:
    ratio: SeriesSummary
    ratio_source: str  # "logged" or "article_loss / other_loss"
    article_loss: SeriesSummary | None
    other_loss: SeriesSummary | None
    empty_batches: int = 0  # logged points with article loss exactly 0 (no article target), left out


@dataclass(frozen=True)
class VocabFacts:
    size: int
    source: str
    ln_vocab: float
    first_loss_over_ln_vocab: float
    starts_fresh: bool  # first loss within initial_loss_tolerance of ln(vocab)
    ends_at_chance: bool  # the end of the curve is still at (or above) that level


@dataclass(frozen=True)
class OverfitFacts:
    """Val loss climbing back up from its best while the train loss goes on falling."""

    best_val: Point
    last_val: Point
    train_at_last_val: Point | None  # the train loss logged nearest the last val loss

    @property
    def rise(self) -> float:
        return self.last_val.value - self.best_val.value

    @property
    def gap(self) -> float | None:
        return None if self.train_at_last_val is None else self.last_val.value - self.train_at_last_val.value


@dataclass(frozen=True)
class ResumeEvent:
    """Where the step counter went back or repeated (a run resumed, or restarted, into the same log)."""

    step_before: int | float     # last step logged before
    step_after: int | float      # first step logged after (<= step_before)
    loss_before: float           # median of the last few finite losses logged before, at or before step_after
    loss_after: float            # median of the first few finite losses after
    lr_before: float | None      # last lr logged before, and first after (None without an lr)
    lr_after: float | None
    lr_peak_before: float | None
    lr_rises_after: bool         # the lr climbs again after the resume: a warmup restarting

    @property
    def loss_jump(self) -> float:
        return self.loss_after / self.loss_before if self.loss_before > 0 else float("nan")

    def to_dict(self) -> dict:
        return {"step_before": self.step_before, "step_after": self.step_after, "loss_before": self.loss_before,
                "loss_after": self.loss_after, "loss_jump": self.loss_jump, "lr_before": self.lr_before,
                "lr_after": self.lr_after, "lr_peak_before": self.lr_peak_before,
                "lr_rises_after": self.lr_rises_after}


@dataclass(frozen=True)
class CurveFacts:
    path: str
    format: str
    curve: str  # which series the loss facts describe: train, eval_train or val
    points: int
    first: Point
    last: Point
    min: Point | None
    segments: int  # >1 when the step counter went backwards (several runs in one log)
    tail: TailFacts | None  # over the finite values; None when too few points to judge a trend
    still_improving: bool | None
    nonfinite_points: int
    first_nonfinite: Point | None
    spike_points: int
    spikes: tuple[SpikeEvent, ...]
    diverged: bool | None
    val: SeriesSummary | None
    eval_train: SeriesSummary | None
    lr: LrFacts | None
    articles: ArticleFacts | None
    vocab: VocabFacts | None
    planned_steps: Recorded | None
    total_lines: int
    skipped_lines: int
    partial_last_line: str | None
    overfit: OverfitFacts | None = None
    bytes_per_token: Any = None  # tsdiag.units.BytesPerToken, when the tokenizer is known
    resumes: tuple[ResumeEvent, ...] = ()

    def per_byte(self, nats: float) -> float | None:
        """``nats`` (per token) in bits per byte (per character for a char vocabulary), when known."""
        from tsdiag.units import bits_per_byte

        return None if self.bytes_per_token is None else bits_per_byte(nats, self.bytes_per_token)

    @property
    def ends_finite(self) -> bool:
        return math.isfinite(self.last.value)

    @property
    def end_loss(self) -> float:
        """Where the curve ends: the tail median (robust to batch noise) unless the curve ends non-finite."""
        return self.tail.median if self.tail is not None and self.ends_finite else self.last.value


def _step(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _point(steps: np.ndarray, values: np.ndarray, i: int) -> Point:
    return Point(_step(steps[i]), float(values[i]))


def _last_segment(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The points after the last time the step counter went backwards, and how many runs there were."""
    back = np.flatnonzero(np.diff(steps) < 0)
    start = int(back[-1]) + 1 if len(back) else 0
    return steps[start:], values[start:], len(back) + 1


def _summary(series: Series) -> SeriesSummary | None:
    return _summarize(*series.arrays()) if len(series) else None


def _summarize(steps: np.ndarray, values: np.ndarray) -> SeriesSummary:
    steps, values, _ = _last_segment(steps, values)
    finite = np.isfinite(values)
    best = Point(_step(steps[finite][np.argmin(values[finite])]), float(values[finite].min())) if finite.any() else None
    return SeriesSummary(len(values), _point(steps, values, 0), _point(steps, values, -1), best)


def _tail(steps: np.ndarray, values: np.ndarray, t: Thresholds) -> TailFacts | None:
    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    if len(values) < t.log_tail_min_points:
        return None
    cut = steps[-1] - t.log_tail_fraction * (steps[-1] - steps[0])
    start = min(int(np.searchsorted(steps, cut, side="left")), len(values) - t.log_tail_min_points)
    x, y = steps[start:] / 1000.0, values[start:]
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return None
    slope = float(dx @ (y - y.mean())) / sxx
    stderr = None
    if len(x) > 2:
        residual = y - y.mean() - slope * dx
        stderr = math.sqrt(float(residual @ residual) / (len(x) - 2) / sxx)
    return TailFacts(_step(steps[start]), _step(steps[-1]), len(y), slope, stderr, float(np.median(y)),
                     _per_doubling(steps[start:], y))


def _per_doubling(steps: np.ndarray, values: np.ndarray) -> float | None:
    """Least-squares slope of the loss against log2(step): nats gained (negative) per doubling of the steps.

    Loss curves fall roughly as a power of the step, so "how much would twice the steps buy" is the
    measure that means the same early and late in a run (a slope per 1k steps shrinks as the run grows).
    """
    keep = steps > 0
    if keep.sum() < 3:
        return None
    x = np.log2(steps[keep])
    dx = x - x.mean()
    sxx = float(dx @ dx)
    return float(dx @ (values[keep] - values[keep].mean())) / sxx if sxx > 0 else None


def _still_improving(tail: TailFacts | None, t: Thresholds) -> bool | None:
    if tail is None:
        return None
    falling = tail.slope_per_1k < -t.still_improving_per_1k
    if tail.slope_stderr_per_1k is None or tail.slope_stderr_per_1k == 0.0:
        return falling
    return falling and -tail.slope_per_1k / tail.slope_stderr_per_1k >= t.slope_t_min


def _spikes(steps: np.ndarray, values: np.ndarray, t: Thresholds) -> tuple[int, tuple[SpikeEvent, ...]]:
    """Points above ``loss_spike_factor`` x the best loss so far, after the opening share of steps."""
    clean = np.where(np.isfinite(values), values, np.inf)
    running_min = np.minimum.accumulate(clean)
    warm = steps >= steps[0] + t.spike_warmup_fraction * (steps[-1] - steps[0])
    spike = warm & np.isfinite(values) & (values > t.loss_spike_factor * running_min)
    index = np.flatnonzero(spike)
    if not len(index):
        return 0, ()
    breaks = np.flatnonzero(np.diff(index) > 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(index) - 1]))
    events = []
    for s, e in zip(starts, ends):
        run = index[s:e + 1]
        events.append(SpikeEvent(
            _step(steps[run[0]]), _step(steps[run[-1]]), len(run),
            float(values[run].max()), float(running_min[run[0] - 1]) if run[0] else float(running_min[0]),
        ))
    return len(index), tuple(events)


def _lr(series: Series, t: Thresholds) -> LrFacts | None:
    if not len(series):
        return None
    steps, values, _ = _last_segment(*series.arrays())
    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    if not len(values):
        return None
    peak_i = int(np.argmax(values))
    first, peak, final = _point(steps, values, 0), _point(steps, values, peak_i), _point(steps, values, -1)
    if first.value < peak.value:
        warmup = peak.step if peak_i < len(values) - 1 else None  # still rising at the end: not over yet
    elif first.step <= 1:  # at its peak from the first step (trainers that count steps from 1 log step 1 first)
        warmup = 0
    else:
        warmup = None
    ratio = final.value / peak.value if peak.value > 0 else float("nan")
    to_min = abs(ratio - t.min_lr_ratio) <= t.min_lr_ratio_tolerance * t.min_lr_ratio
    constant = len(values) > 1 and float(values.min()) == float(values.max())
    return LrFacts(len(values), first, peak, final, ratio, warmup, constant, bool(to_min))


RESUME_WINDOW = 3   # points on each side of a resume whose median is compared (batch noise averages out)


def _resumes(series: Series, lr: Series) -> tuple[ResumeEvent, ...]:
    """Every place the step counter goes back or repeats, with the loss and lr around it."""
    steps, values = series.arrays()
    lr_steps, lr_values = lr.arrays()
    events = []
    for i in np.flatnonzero(np.diff(steps) <= 0) + 1:
        # compare with the loss the first run had at the step the second starts from (a resume from an older
        # checkpoint goes back: the loss at the last logged step is lower by all the steps since)
        earlier = np.flatnonzero(steps[:i] <= steps[i])
        end = int(earlier[-1]) + 1 if len(earlier) else i
        before, after = values[max(0, end - RESUME_WINDOW):end], values[i:i + RESUME_WINDOW]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        if not len(before) or not len(after):
            continue
        lr_before = lr_after = lr_peak = None
        rises = False
        if len(lr_values):
            old = lr_steps <= steps[i - 1]
            cut = np.flatnonzero(np.diff(lr_steps) <= 0) + 1
            j = next((int(c) for c in cut if lr_steps[c] <= steps[i]), None)   # the lr series' own resume
            if j is not None:
                lr_before, lr_after = float(lr_values[j - 1]), float(lr_values[j])
                lr_peak = float(np.nanmax(lr_values[:j]))
                nxt = lr_values[j:j + 2 * RESUME_WINDOW]
                rises = bool(len(nxt) > 1 and nxt[-1] > nxt[0] and lr_after < 0.5 * lr_peak)
            elif old.any():
                lr_before = float(lr_values[old][-1])
        events.append(ResumeEvent(_step(steps[i - 1]), _step(steps[i]), float(np.median(before)),
                                  float(np.median(after)), lr_before, lr_after, lr_peak, rises))
    return tuple(events)


def _without(series: Series, steps_dropped: set) -> Series:
    kept = Series()
    for step, value in zip(series.steps, series.values):
        if step not in steps_dropped:
            kept.add(step, value)
    return kept


def _articles(curve: LossCurve) -> ArticleFacts | None:
    """Article/other losses, without the logged points whose article loss is exactly 0.

    A custom trainer that averages the loss over a batch's article targets logs 0.0000 for a batch
    that has none: that is a count of zero, not a perfect prediction, and its ratio 0.00x means nothing.
    """
    empty = {step for step, value in zip(curve.article_loss.steps, curve.article_loss.values) if value == 0.0}
    article_series, ratio_series = _without(curve.article_loss, empty), _without(curve.ratio, empty)
    other_series = _without(curve.other_loss, empty)
    article, other = _summary(article_series), _summary(other_series)
    if len(ratio_series):
        return ArticleFacts(_summary(ratio_series), "logged", article, other, len(empty))
    if article is None or other is None or article_series.steps != other_series.steps:
        return None
    steps, a = article_series.arrays()
    _, o = other_series.arrays()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _summarize(steps, a / o)
    return ArticleFacts(ratio, "article_loss / other_loss", article, other, len(empty))


def _vocab(curve: LossCurve, first: Point, end_loss: float, vocab_size: int | None, t: Thresholds) -> VocabFacts | None:
    if vocab_size is not None:
        size, source = int(vocab_size), "--vocab-size / vocab_size argument"
    elif "vocab_size" in curve.settings:
        size, source = int(curve.settings["vocab_size"].value), curve.settings["vocab_size"].source
    else:
        return None
    if size < 2:
        return None
    ln_vocab = math.log(size)
    fresh = abs(first.value - ln_vocab) <= t.initial_loss_tolerance * ln_vocab
    at_chance = end_loss >= (1.0 - t.initial_loss_tolerance) * ln_vocab
    return VocabFacts(size, source, ln_vocab, first.value / ln_vocab, bool(fresh), bool(at_chance))


def _loss_series(curve: LossCurve) -> tuple[str, Series]:
    """The per-step train loss when logged; else the evaluation-time train loss; else val loss.

    A series with a single point loses to one with a trend, whatever its kind.
    """
    candidates = (("train", curve.train), ("eval_train", curve.eval_train), ("val", curve.val))
    for least in (2, 1):
        for name, series in candidates:
            if len(series) >= least:
                return name, series
    raise ValueError(f"{curve.path}: the curve holds no loss values")


def _overfit(curve: LossCurve, t: Thresholds) -> OverfitFacts | None:
    """Val rising by ``overfit_val_rise`` from its best at a later evaluation, with the train loss below it."""
    if len(curve.val) < t.log_tail_min_points:
        return None
    steps, values, _ = _last_segment(*curve.val.arrays())
    finite = np.isfinite(values)
    if not finite.all() or len(values) < t.log_tail_min_points:
        return None
    best_i = int(np.argmin(values))
    if best_i == len(values) - 1 or values[-1] - values[best_i] < t.overfit_val_rise:
        return None
    train = curve.train if len(curve.train) else curve.eval_train
    train_point = None
    if len(train):
        t_steps, t_values, _ = _last_segment(*train.arrays())
        j = int(np.argmin(np.abs(t_steps - steps[-1])))
        train_point = _point(t_steps, t_values, j)
        if not train_point.value < values[-1]:
            return None  # train as high as val: the whole curve went up (divergence), not memorisation
    return OverfitFacts(_point(steps, values, best_i), _point(steps, values, -1), train_point)


def measure_curve(curve: LossCurve, thresholds: Thresholds | None = None, vocab_size: int | None = None,
                  bytes_per_token=None) -> CurveFacts:
    """Facts about ``curve``; ``vocab_size`` overrides a size the log states; ``bytes_per_token``
    (:class:`tsdiag.units.BytesPerToken`) lets losses be judged per byte."""
    t = thresholds or Thresholds()
    name, series = _loss_series(curve)
    steps, values, segments = _last_segment(*series.arrays())
    finite = np.isfinite(values)
    best = None
    if finite.any():
        i = int(np.argmin(np.where(finite, values, np.inf)))
        best = _point(steps, values, i)
    first, last = _point(steps, values, 0), _point(steps, values, -1)
    tail = _tail(steps, values, t)
    spike_points, spikes = _spikes(steps, values, t) if len(values) >= t.log_tail_min_points else (0, ())
    nonfinite = np.flatnonzero(~finite)
    ends_finite = math.isfinite(last.value)
    end = tail.median if tail is not None and ends_finite else last.value
    if not ends_finite:
        diverged: bool | None = True
    elif tail is None or best is None:
        diverged = None
    else:
        diverged = bool(end > t.loss_spike_factor * best.value)
    return CurveFacts(
        path=curve.path,
        format=curve.format,
        curve=name,
        points=len(values),
        first=first,
        last=last,
        min=best,
        segments=segments,
        tail=tail,
        still_improving=_still_improving(tail, t) if ends_finite else False,
        nonfinite_points=len(nonfinite),
        first_nonfinite=_point(steps, values, int(nonfinite[0])) if len(nonfinite) else None,
        spike_points=spike_points,
        spikes=spikes,
        diverged=diverged,
        val=_summary(curve.val),
        eval_train=_summary(curve.eval_train),
        lr=_lr(curve.lr, t),
        articles=_articles(curve),
        vocab=_vocab(curve, first, end, vocab_size, t),
        planned_steps=curve.settings.get("planned_steps"),
        total_lines=curve.total_lines,
        skipped_lines=curve.skipped_lines,
        partial_last_line=curve.partial_last_line,
        overfit=_overfit(curve, t),
        bytes_per_token=bytes_per_token,
        resumes=_resumes(series, curve.lr),
    )
