"""Every log finding both ways: a synthetic curve that triggers it and one that does not."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tsdiag.findings import Severity, all_rules
from tsdiag.logs import analyze_curve
from tsdiag.logs.facts import LossCurve, Recorded
from tsdiag.thresholds import Thresholds

STEPS = np.arange(0, 5001, 10, dtype=float)


def _curve(loss, steps=STEPS, *, lr=None, val=None, article=None, other=None, ratio=None, settings=None):
    curve = LossCurve("run/train.log", "synthetic")
    for s, v in zip(steps, loss):
        curve.train.add(s, v)
    for series, values in ((curve.lr, lr), (curve.article_loss, article), (curve.other_loss, other),
                           (curve.ratio, ratio)):
        if values is not None:
            for s, v in zip(steps, values):
                series.add(s, v)
    for s, v in val or ():
        curve.val.add(s, v)
    curve.settings.update(settings or {})
    return curve


def _healthy(end=1.2, start=6.24):
    """Falls fast, then flattens: nothing left to gain at the end."""
    return end + (start - end) * np.exp(-STEPS / 300)


def _codes(curve, **kw):
    facts, findings = analyze_curve(curve, Thresholds(), **kw)
    return {f.code: f for f in findings}, facts


def _cosine_lr(peak=5e-4, warmup=100):
    progress = np.clip((STEPS - warmup) / (STEPS[-1] - warmup), 0, 1)
    decay = peak * 0.1 + 0.5 * (1 + np.cos(math.pi * progress)) * (peak - peak * 0.1)
    return np.where(STEPS < warmup, peak * STEPS / warmup, decay)


def test_healthy_run_has_no_findings():
    found, facts = _codes(_curve(_healthy(), lr=_cosine_lr()), vocab_size=512)
    assert found.keys() == {"TSD-LOG-FRESH-START"}  # from scratch, which is fine (info)
    assert facts.still_improving is False and facts.diverged is False and not facts.spikes
    assert facts.lr.warmup_steps == 100 and facts.lr.decays_to_min_lr_ratio


def test_fresh_start_both_ways():
    found, facts = _codes(_curve(_healthy(start=6.24)), vocab_size=512)
    f = found["TSD-LOG-FRESH-START"]
    assert f.severity is Severity.INFO and "ln(512)" in f.message
    assert {e.name for e in f.evidence} >= {"first loss", "vocab size", "ln(vocab)"}
    assert "TSD-LOG-FRESH-START" not in _codes(_curve(_healthy(start=3.0)), vocab_size=512)[0]
    assert "TSD-LOG-FRESH-START" not in _codes(_curve(_healthy()))[0]  # no vocab: unknown, silent


def test_vocab_from_the_log_and_flag_override():
    curve = _curve(_healthy(start=10.4), settings={"vocab_size": Recorded(32000, "train.log: 'vocab_size = 32000'")})
    found, facts = _codes(curve)
    assert facts.vocab.size == 32000 and "TSD-LOG-FRESH-START" in found
    assert found["TSD-LOG-FRESH-START"].evidence[1].source == "train.log: 'vocab_size = 32000'"
    assert _codes(curve, vocab_size=512)[1].vocab.size == 512


def test_at_chance_both_ways():
    ln = math.log(32000)
    flat = ln + 0.01 * np.sin(STEPS)
    found, _ = _codes(_curve(flat), vocab_size=32000)
    # 5,000 steps that never left chance: a learning failure (H3), not a wrong checkpoint nor "stopped early"
    assert found["TSD-H3-LOG-NO-LEARNING"].severity is Severity.ERROR and "TSD-H2-LOG-AT-CHANCE" not in found
    assert "TSD-H2-LOG-LOSS-HIGH" not in found  # the chance-level finding says it more precisely
    assert "TSD-H3-LOG-NO-LEARNING" not in _codes(_curve(_healthy(start=ln)), vocab_size=32000)[0]
    short = _curve(flat[:8], steps=STEPS[:8] / 20)  # 8 points within the first 250 steps
    found, _ = _codes(short, vocab_size=32000)
    assert found["TSD-H2-LOG-AT-CHANCE"].hypothesis == "H2" and "TSD-H3-LOG-NO-LEARNING" not in found


def test_still_improving_both_ways():
    falling = 1.5 + 3.0 * np.exp(-STEPS / 4000)
    found, facts = _codes(_curve(falling, lr=np.full(len(STEPS), 3e-4) * np.linspace(1, 0.5, len(STEPS))))
    f = found["TSD-H2-LOG-STILL-IMPROVING"]
    assert facts.still_improving and facts.tail.slope_per_1k < -0.1
    assert f.severity is Severity.WARNING  # documented as a warning; its strength says how much steps would buy
    assert f.strength >= 0.75  # fast fall at a high loss: strong evidence
    assert "Continue training from step 5,000" in f.fix and "not yet decayed" in f.message
    noisy_plateau = _healthy() + 0.05 * np.sin(STEPS * 1.3)
    found, facts = _codes(_curve(noisy_plateau))
    assert "TSD-H2-LOG-STILL-IMPROVING" not in found and facts.still_improving is False


def test_still_improving_with_a_finished_schedule_asks_for_a_longer_one():
    low = 1.0 + 0.8 * np.exp(-STEPS / 4000)
    found, _ = _codes(_curve(low, lr=_cosine_lr()))
    f = found["TSD-H2-LOG-STILL-IMPROVING"]
    assert f.severity is Severity.WARNING and "longer schedule" in f.fix


def test_unfinished_both_ways():
    planned = {"planned_steps": Recorded(20000, "train.log: 'Overriding: max_iters = 20000'")}
    f = _codes(_curve(_healthy(), settings=planned))[0]["TSD-H2-LOG-UNFINISHED"]
    assert "step 5,000 of 20,000" in f.message and f.evidence[1].source.endswith("max_iters = 20000'")
    done = {"planned_steps": Recorded(5000, "x")}
    assert "TSD-H2-LOG-UNFINISHED" not in _codes(_curve(_healthy(), settings=done))[0]


def test_loss_high_prefers_val_loss():
    found, _ = _codes(_curve(_healthy(end=1.5), val=[(5000, 2.9)]))
    assert "val loss 2.9" in found["TSD-H2-LOG-LOSS-HIGH"].message
    assert "TSD-H2-LOG-LOSS-HIGH" not in _codes(_curve(_healthy(end=3.0), val=[(5000, 1.4)]))[0]
    assert "TSD-H2-LOG-LOSS-HIGH" in _codes(_curve(_healthy(end=3.0)))[0]


def test_nan_both_ways():
    loss = _healthy()
    loss[300:] = np.nan
    found, facts = _codes(_curve(loss))
    f = found["TSD-H3-LOG-NAN"]
    assert facts.nonfinite_points == len(STEPS) - 300 and facts.first_nonfinite.step == 3000
    assert f.severity is Severity.ERROR and "before step 3,000" in f.fix
    assert facts.diverged is True and "TSD-H3-LOG-DIVERGED" not in found  # NaN says it already
    assert facts.still_improving is False and math.isnan(facts.end_loss)
    assert "TSD-H3-LOG-NAN" not in _codes(_curve(_healthy()))[0]


def _diverging():
    loss = _healthy(end=2.0)
    loss[250:] = np.linspace(2.0, 6.0, len(STEPS) - 250)
    return loss


def test_diverged_both_ways():
    found, facts = _codes(_curve(_diverging(), lr=np.full(len(STEPS), 3e-3)))
    f = found["TSD-H3-LOG-DIVERGED"]
    assert facts.diverged and f.severity is Severity.ERROR and "peak lr 0.001" in f.fix
    assert "TSD-H3-LOG-SPIKES" not in found and "TSD-H2-LOG-LOSS-HIGH" not in found  # divergence covers them
    assert found["TSD-H3-LOG-LR-HIGH"].severity is Severity.ERROR and "divergence" in found["TSD-H3-LOG-LR-HIGH"].message
    assert "TSD-H3-LOG-DIVERGED" not in _codes(_curve(_healthy()))[0]


def test_spikes_both_ways():
    loss = _healthy()
    loss[250:253] = 4.0  # mid-run, best so far ~1.2
    found, facts = _codes(_curve(loss))
    assert len(facts.spikes) == 1 and facts.spikes[0].start_step == 2500 and facts.spike_points == 3
    assert "TSD-H3-LOG-SPIKES" in found and "TSD-H3-LOG-DIVERGED" not in found
    early = _healthy()
    early[20] = 9.0  # inside the opening 10% of steps, where the loss still plunges
    assert "TSD-H3-LOG-SPIKES" not in _codes(_curve(early))[0]


def test_lr_high_both_ways():
    found, _ = _codes(_curve(_healthy(), lr=np.full(len(STEPS), 3e-3)))
    f = found["TSD-H3-LOG-LR-HIGH"]
    assert f.severity is Severity.WARNING and "without warmup" in f.message and "0.003" in f.message
    assert "TSD-H3-LOG-LR-HIGH" not in _codes(_curve(_healthy(), lr=_cosine_lr(peak=5e-4)))[0]


def test_lr_constant_both_ways():
    found, facts = _codes(_curve(_healthy(), lr=np.full(len(STEPS), 5e-4)))
    assert facts.lr.constant and found["TSD-H3-LOG-LR-CONSTANT"].severity is Severity.INFO
    assert "TSD-H3-LOG-LR-CONSTANT" not in _codes(_curve(_healthy(), lr=_cosine_lr()))[0]


def test_weighted_ratio_both_ways():
    n = len(STEPS)
    article, other = np.linspace(4.5, 4.55, n), np.linspace(10.3, 10.10, n)
    found, facts = _codes(_curve(_healthy(end=8.0, start=10.4), article=article, other=other,
                                 ratio=np.full(n, 0.45)), vocab_size=32000)
    f = found["TSD-W-LOG-RATIO"]
    assert f.severity is Severity.ERROR and "chance level" in f.message  # other loss ~ ln(32000)
    assert facts.articles.ratio.last.value == 0.45 and facts.articles.ratio_source == "logged"
    # without a vocabulary the same curve is a warning
    assert _codes(_curve(_healthy(end=8.0), article=article, other=other, ratio=np.full(n, 0.45)))[0][
        "TSD-W-LOG-RATIO"].severity is Severity.WARNING
    # ratio near 1: nothing
    assert "TSD-W-LOG-RATIO" not in _codes(_curve(_healthy(), article=np.full(n, 1.1), other=np.full(n, 1.2)))[0]
    # ratio low but the other tokens are learned: nothing
    assert "TSD-W-LOG-RATIO" not in _codes(_curve(_healthy(), article=np.full(n, 0.5), other=np.full(n, 1.5)))[0]


def test_ratio_is_computed_when_not_logged():
    n = len(STEPS)
    _, facts = _codes(_curve(_healthy(), article=np.full(n, 1.0), other=np.full(n, 4.0)))
    assert facts.articles.ratio_source == "article_loss / other_loss" and facts.articles.ratio.last.value == 0.25


def test_few_points_both_ways():
    found, facts = _codes(_curve([6.0, 5.0], steps=[0.0, 100.0]))
    assert "TSD-LOG-FEW-POINTS" in found and facts.still_improving is None and facts.diverged is None
    assert "TSD-H2-LOG-STILL-IMPROVING" not in found
    assert "TSD-LOG-FEW-POINTS" not in _codes(_curve(_healthy()))[0]


def test_restarted_log_analyses_the_last_run():
    steps = np.concatenate([STEPS, STEPS[:100]])
    loss = np.concatenate([_healthy(), 3.0 + 3.0 * np.exp(-STEPS[:100] / 300)])
    found, facts = _codes(_curve(loss, steps=steps))
    assert facts.segments == 2 and facts.points == 100 and facts.first.step == 0 and facts.last.step == 990
    assert "TSD-LOG-RESTARTED" in found
    assert "TSD-LOG-RESTARTED" not in _codes(_curve(_healthy()))[0]


def test_thresholds_come_from_the_settings():
    falling = 1.0 + 3.0 * np.exp(-STEPS / 4000)
    lenient = Thresholds().override({"still_improving_per_1k": 5.0})
    _, findings = analyze_curve(_curve(falling), lenient)
    assert "TSD-H2-LOG-STILL-IMPROVING" not in {f.code for f in findings}


def test_every_log_rule_is_registered_and_documented():
    # the log's own rules name their source right after the hypothesis; cross-checks that merely
    # compare against a log (TSD-H5-BEHIND-LOG, TSD-H5-EVAL-ABOVE-LOG) belong to other stages
    codes = {c for c in all_rules() if re.match(r"TSD-(H\d-|W-)?LOG-", c)}
    assert codes == {
        "TSD-LOG-FRESH-START", "TSD-H2-LOG-AT-CHANCE", "TSD-H3-LOG-NO-LEARNING", "TSD-H1-LOG-OVERFIT",
        "TSD-H2-LOG-STILL-IMPROVING", "TSD-H2-LOG-UNFINISHED",
        "TSD-H2-LOG-LOSS-HIGH", "TSD-H3-LOG-NAN", "TSD-H3-LOG-DIVERGED", "TSD-H3-LOG-SPIKES",
        "TSD-H3-LOG-LR-HIGH", "TSD-H3-LOG-LR-CONSTANT", "TSD-W-LOG-RATIO", "TSD-LOG-FEW-POINTS",
        "TSD-LOG-RESTARTED", "TSD-LOG-RESUMED", "TSD-H3-LOG-RESUME-JUMP",
    }


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinities_count_as_non_finite(value):
    loss = _healthy()
    loss[-1] = value
    assert _codes(_curve(loss))[1].nonfinite_points == 1


def test_a_run_that_learned_then_blew_up_is_not_untrained_nor_to_be_resumed():
    planned = {"vocab_size": Recorded(512, "log"), "planned_steps": Recorded(20_000, "log")}
    loss = np.where(STEPS < 2500, _healthy(end=1.5), 1.5 + (STEPS - 2500) / 400)   # back up to ~7.7 > ln(512)
    found, facts = _codes(_curve(loss, settings=planned))
    assert facts.end_loss > math.log(512)
    assert not {"TSD-H3-LOG-NO-LEARNING", "TSD-H2-LOG-AT-CHANCE", "TSD-H2-LOG-UNFINISHED",
                "TSD-H2-LOG-STILL-IMPROVING"} & set(found)
    nan_loss = np.where(STEPS < 3000, _healthy(), np.nan)
    found, _ = _codes(_curve(nan_loss, settings=planned))
    assert "TSD-H3-LOG-NAN" in found and "TSD-H2-LOG-UNFINISHED" not in found
    # a run that never learned still gets both
    found, _ = _codes(_curve(np.full(STEPS.size, 6.2), settings=planned))
    assert {"TSD-H3-LOG-NO-LEARNING", "TSD-H2-LOG-UNFINISHED"} <= set(found)


def test_a_finished_run_whose_lr_never_decayed_is_told_about_its_schedule():
    planned = {"vocab_size": Recorded(512, "log"), "planned_steps": Recorded(5000, "log: Step s/5000")}
    loss = 1.3 + 5.0 * np.exp(-STEPS / 3000)                       # still falling at the end
    lr = 5e-4 * (0.55 + 0.45 * np.cos(np.pi * STEPS / 50_000))     # cosine over 50,000 steps: barely moved
    found, _ = _codes(_curve(loss, lr=lr, settings=planned))
    still = found["TSD-H2-LOG-STILL-IMPROVING"]
    assert "lr_decay_iters = max_iters = 5,000" in still.fix and "Continue training" not in still.fix


def test_no_warmup_is_seen_in_a_log_that_counts_steps_from_one():
    steps = STEPS + 1
    lr = np.full(STEPS.size, 5e-3)
    facts, _ = analyze_curve(_curve(_healthy(), steps, lr=lr), Thresholds())
    assert facts.lr.warmup_steps == 0
    facts, _ = analyze_curve(_curve(_healthy(), STEPS + 50, lr=lr), Thresholds())   # a log that starts later
    assert facts.lr.warmup_steps is None


def test_a_high_loss_on_a_flat_curve_is_weak_evidence_for_stopping_early():
    flat = 3.0 + 0.01 * np.sin(STEPS * 1.3)
    found, facts = _codes(_curve(flat))
    f = found["TSD-H2-LOG-LOSS-HIGH"]
    assert facts.still_improving is False and f.strength <= 0.2 and "flattened" in f.fix
    falling = 3.0 + 3.0 * np.exp(-STEPS / 4000)
    assert _codes(_curve(falling))[0]["TSD-H2-LOG-LOSS-HIGH"].strength > f.strength
