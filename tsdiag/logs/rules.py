"""What a loss curve says about the run: rules over :class:`CurveFacts`.

Each function looks at facts only (never at files) and returns findings with
the numbers they rest on.  Where the facts cannot tell (too few points, no
vocabulary size, no lr logged) the rule stays silent: "unknown" is a verdict
the report shows, not a finding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tsdiag.findings import Evidence, Finding, Severity, define_rule, format_value, strength_past
from tsdiag.logs.facts import CurveFacts
from tsdiag.thresholds import Thresholds

FRESH_START = define_rule(
    "TSD-LOG-FRESH-START",
    "The first logged loss is ln(vocab): the run started from fresh weights",
    Severity.INFO,
    why=("A model that has learned nothing spreads its probability evenly over the vocabulary, so its loss is "
         "ln(vocab). A first loss at that level means training began from random weights: normal for a run from "
         "scratch, a bug for a run that was meant to resume or fine-tune."),
    fix=("Nothing to do for a run from scratch. If the run was meant to resume, check that the checkpoint was "
         "actually loaded (llama2.c/nanoGPT init_from='resume', HF resume_from_checkpoint)."),
    hypothesis="H5",
)
AT_CHANCE = define_rule(
    "TSD-H2-LOG-AT-CHANCE",
    "A short run that never left ln(vocab): it was stopped before it began to learn",
    Severity.ERROR,
    why=("At ln(vocab) a model predicts every token as equally likely. A training log that ends there after a "
         "few hundred steps comes from a run that stopped before learning started (warmup alone is often "
         "longer); its checkpoint is as untrained as the log says. This is the run's own end, not a wrong file."),
    fix="Train for the planned number of steps (thousands for TinyStories); check the lr warms up to its peak.",
    hypothesis="H2",
)
NO_LEARNING = define_rule(
    "TSD-H3-LOG-NO-LEARNING",
    "A long run that never left ln(vocab): nothing was learned",
    Severity.ERROR,
    why=("A run of thousands of steps whose loss is still at ln(vocab) learned nothing: the lr is far off "
         "(zero, or so high that updates cancel out), the gradients never reach the weights, or the targets "
         "are noise (shuffled or misaligned data)."),
    fix=("Check the lr the optimizer really used (TSD-H3 findings), that loss.backward() and optimizer.step() "
         "run, and the data (tsdiag audit-data with --tokenizer)."),
    hypothesis="H3",
)
STILL_IMPROVING = define_rule(
    "TSD-H2-LOG-STILL-IMPROVING",
    "The run stopped while the loss was still falling",
    Severity.WARNING,
    why=("A loss that still falls measurably at the end of a run means more steps would still help; small "
         "TinyStories models write broken English (missing articles included) until the loss gets low enough."),
    fix="Continue training from the last checkpoint until the loss flattens.",
    hypothesis="H2",
)
UNFINISHED = define_rule(
    "TSD-H2-LOG-UNFINISHED",
    "The log ends well before the number of steps the run planned",
    Severity.WARNING,
    escalation="the log ends at most early_stop_strong_fraction of the planned steps at a high loss",
    why=("The run's own settings planned more steps than the log reached: it crashed, was stopped, or this is "
         "the state of an intermediate checkpoint."),
    fix="Resume from the last checkpoint and train to the planned number of steps.",
    hypothesis="H2",
)
LOSS_HIGH = define_rule(
    "TSD-H2-LOG-LOSS-HIGH",
    "The run ends at a loss where TinyStories models still write broken English",
    Severity.WARNING,
    why=("llama2.c's published TinyStories models reach val loss 0.76-1.30 nats/token (about 0.4-0.8 bits per "
         "byte); above ~1.2 bits/byte (2.0 nats/token at a 512 vocabulary) stories stay ungrammatical. A high "
         "final loss is the symptom every cause shares, so on its own it is weak evidence for stopping early "
         "(strength at most 0.4): a bad lr, data or vocabulary holds it up too."),
    fix="Train longer; if the loss had flattened, check the H3 (lr) and H1 (data) findings for why.",
    hypothesis="H2",
)
NAN = define_rule(
    "TSD-H3-LOG-NAN",
    "The log holds NaN or infinite loss values",
    Severity.ERROR,
    why="A non-finite loss means the weights blew up (lr too high, fp16 overflow); nothing after it is trained.",
    fix=("Restart from the last checkpoint before the first non-finite value with a lower lr, gradient clipping "
         "(grad_clip=1.0) and bf16 or a grad scaler instead of plain fp16."),
    hypothesis="H3",
)
DIVERGED = define_rule(
    "TSD-H3-LOG-DIVERGED",
    "The loss ends far above its best value: the run diverged",
    Severity.ERROR,
    why="A run whose loss climbs back up and stays there has left the region it was learning in; usually the lr is too high.",
    fix="Restart from the checkpoint at the best loss with a lower peak lr.",
    hypothesis="H3",
)
SPIKES = define_rule(
    "TSD-H3-LOG-SPIKES",
    "The loss spikes far above its best value after the opening steps",
    Severity.WARNING,
    why="Spikes after the first steps are the early sign of an lr at the edge of stability (or of bad batches).",
    fix="Lower the peak lr or add gradient clipping (grad_clip=1.0); look at the data around the spike steps.",
    hypothesis="H3",
)
LR_HIGH = define_rule(
    "TSD-H3-LOG-LR-HIGH",
    "The logged learning rate peaks above what small decoders train stably with",
    Severity.WARNING,
    escalation="the peak is at least lr_high_strong_factor x lr_max, or the log also shows spikes, divergence "
               "or non-finite losses",
    why="Small decoders on TinyStories train with lr around 5e-4 (llama2.c); far above 1e-3 they spike, diverge or plateau.",
    fix="Retrain with a peak lr of at most 1e-3 (llama2.c uses 5e-4), with warmup and decay to lr/10.",
    hypothesis="H3",
)
LR_CONSTANT = define_rule(
    "TSD-H3-LOG-LR-CONSTANT",
    "The learning rate never changes: no warmup and no decay",
    Severity.INFO,
    why="Without warmup the first steps are unstable; without decay the loss stalls above what the model can reach.",
    fix=("Warm up, then decay with a cosine to lr/10 at the last step (llama2.c: warmup_iters, "
         "lr_decay_iters = max_iters, min_lr = lr/10)."),
    hypothesis="H3",
)
RATIO_LOW = define_rule(
    "TSD-W-LOG-RATIO",
    "Article loss far below the other-token loss while the other-token loss stays high",
    Severity.WARNING,
    escalation="the other-token loss is still at chance level (ln(vocab))",
    why=("An article-weighted loss can make the model fit 'a/an/the' at the expense of every other token: the "
         "ratio falls well below 1 while the rest of the language stays unlearned, so the stories do not improve."),
    fix=("Retrain with the standard (unweighted) loss or a much smaller article weight, and compare the two runs "
         "at the same step (tsdiag compare STANDARD_RUN WEIGHTED_RUN)."),
    hypothesis="W",
)
OVERFIT = define_rule(
    "TSD-H1-LOG-OVERFIT",
    "Val loss climbs back up while the train loss keeps falling: the model memorises too little data",
    Severity.WARNING,
    escalation="the val loss rose at least overfit_strong_rise above its best",
    why=("A widening train/val gap means the model learns the training text by heart instead of the language; "
         "with TinyStories that happens when a small subset is trained for many epochs. A best-val checkpoint "
         "saved before the rise (nanoGPT's always_save_checkpoint=False) is then older than the last step "
         "because the run overfits, not because it stopped early."),
    fix=("Train on more stories (the full TinyStories set has ~2M), or stop at the best val loss and lower the "
         "model size or raise dropout; do not simply train longer."),
    hypothesis="H1",
)
FEW_POINTS = define_rule(
    "TSD-LOG-FEW-POINTS",
    "Too few loss values to judge the trend, spikes or divergence",
    Severity.INFO,
    why="A trend needs a window of points at the end of the curve; with fewer the verdicts stay unknown.",
    fix="Log the loss more often (log_interval, logging_steps) or pass a longer log.",
)
RESTARTED = define_rule(
    "TSD-LOG-RESTARTED",
    "The step counter went backwards: the log holds several runs",
    Severity.INFO,
    why="Appending a new run to an old log file mixes two curves; only the last run is analysed.",
    fix="Give each run its own log file, or cut the old run out before analysing.",
)

RESUMED = define_rule(
    "TSD-LOG-RESUMED",
    "The run was resumed: the step counter went back or repeated",
    Severity.INFO,
    why="A resume that carries on where the run stopped changes nothing; one with a loss jump or an lr warmup "
        "starting over lost state (optimizer moments, scheduler) on the way. Steps logged twice were trained twice.",
    fix="Compare the checkpoint's optimizer step with the run's (`tsdiag inspect`); resume with the optimizer and "
        "scheduler state.",
)
RESUME_JUMP = define_rule(
    "TSD-H3-LOG-RESUME-JUMP",
    "The loss jumped or the lr warmup started over where the run was resumed",
    Severity.WARNING,
    hypothesis="H3",
    why="A resumed run that kept its state continues its curve; a loss well above the level before the resume, or "
        "an lr climbing again from near zero, means the optimizer or scheduler started fresh.",
    fix="Resume with the optimizer's and scheduler's state_dict; if they are lost, expect to repeat the warmup.",
)

# every rule this module defines
RULES = (FRESH_START, AT_CHANCE, NO_LEARNING, STILL_IMPROVING, UNFINISHED, LOSS_HIGH, NAN, DIVERGED, SPIKES, LR_HIGH,
    LR_CONSTANT, RATIO_LOW, OVERFIT, FEW_POINTS, RESTARTED, RESUMED, RESUME_JUMP)


def _name(facts: CurveFacts) -> str:
    return Path(facts.path).name


def _loss_source(facts: CurveFacts, step) -> str:
    return f"{_name(facts)}: {facts.curve.replace('_', ' ')} loss, step {format_value(step)}"


def _end_evidence(facts: CurveFacts) -> Evidence:
    """Where the curve ends: the tail median when there is a tail and the curve ends finite, else the last value."""
    if facts.tail is not None and facts.ends_finite:
        tail = facts.tail
        return Evidence("loss at the end", tail.median, "nats/token",
                        f"{_name(facts)}: median of {tail.points} points, steps "
                        f"{format_value(tail.start_step)}-{format_value(tail.end_step)}")
    return Evidence("last loss", facts.last.value, "nats/token", _loss_source(facts, facts.last.step))


def _vocab_evidence(facts: CurveFacts) -> list[Evidence]:
    v = facts.vocab
    return [Evidence("vocab size", v.size, "tokens", v.source),
            Evidence("ln(vocab)", v.ln_vocab, "nats/token", f"ln({v.size:,})")]


def fresh_start(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    v = facts.vocab
    if v is None or not v.starts_fresh:
        return []
    return [FRESH_START.finding(
        f"first loss {format_value(facts.first.value)} at step {format_value(facts.first.step)} is within "
        f"{t.initial_loss_tolerance:.0%} of ln({v.size:,}) = {v.ln_vocab:.3f}: this run started from fresh "
        f"(untrained) weights",
        [Evidence("first loss", facts.first.value, "nats/token", _loss_source(facts, facts.first.step)),
         *_vocab_evidence(facts)],
        subject=facts.path,
    )]


def at_chance(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    """A curve that ends at ln(vocab): a short run stopped before learning (H2), a long one failed to learn (H3)."""
    v = facts.vocab
    if v is None or not v.ends_at_chance or _broke_down(facts, t):
        return []  # a run that learned and then blew up is a divergence (H3), not an untrained run
    short = facts.last.step < t.chance_short_run_steps
    rule = AT_CHANCE if short else NO_LEARNING
    what = (f"a run of {format_value(facts.last.step)} steps (under chance_short_run_steps "
            f"{t.chance_short_run_steps:,}) stopped before it began to learn" if short else
            f"after {format_value(facts.last.step)} steps nothing was learned")
    return [rule.finding(
        f"the loss at step {format_value(facts.last.step)} is still {facts.end_loss:.3f}, at or above "
        f"{1 - t.initial_loss_tolerance:.0%} of ln({v.size:,}) = {v.ln_vocab:.3f}: {what}",
        [_end_evidence(facts), *_vocab_evidence(facts),
         Evidence("last step", facts.last.step, "", _loss_source(facts, facts.last.step)),
         Evidence("threshold chance_short_run_steps", t.chance_short_run_steps, "steps", "tsdiag thresholds")],
        subject=facts.path,
    )]


def _broke_down(facts: CurveFacts, t: Thresholds) -> bool:
    """The run diverged, or went NaN/Inf, or its loss came back up far from its best: more training won't help."""
    if facts.diverged or facts.nonfinite_points:
        return True
    best = facts.min.value if facts.min is not None else None
    v = facts.vocab
    return best is not None and v is not None and best < (1 - t.initial_loss_tolerance) * v.ln_vocab \
        and facts.end_loss > best + t.initial_loss_tolerance * v.ln_vocab


def _level(facts: CurveFacts, t: Thresholds):
    """The end of the curve (val loss when logged) judged against the high-loss threshold, per byte when known."""
    from tsdiag.units import loss_level

    nats = facts.val.last.value if facts.val is not None and facts.val.min is not None else facts.end_loss
    return loss_level(nats, facts.bytes_per_token, t)


def _level_evidence(facts: CurveFacts, level) -> list[Evidence]:
    if level.unit == "nats/token":
        return []
    bpt = facts.bytes_per_token
    return [Evidence(f"loss at the end per {'character' if bpt.per_character else 'byte'}", round(level.value, 4),
                     level.unit, f"{bpt.value:.3g} {'chars' if bpt.per_character else 'bytes'}/token ({bpt.source})"),
            Evidence(f"threshold {level.threshold_name}", level.threshold, level.unit, "tsdiag thresholds")]


def still_improving(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    """Still falling at the end. Its strength is what twice the steps would buy (nats per doubling), halved
    when the loss is already below the high-loss threshold: then more steps polish a working model."""
    if not facts.still_improving or _broke_down(facts, t) or facts.overfit is not None:
        return []  # an overfitting run gains nothing from more steps: TSD-H1-LOG-OVERFIT says why
    tail = facts.tail
    gain = -tail.per_doubling if tail.per_doubling is not None else None
    if gain is not None and gain < t.still_improving_per_doubling:
        return []  # measurably falling, but twice the steps would buy next to nothing
    last = format_value(facts.last.step)
    rate = f"{-tail.slope_per_1k:.3g} nats per 1k steps"
    evidence = [
        Evidence("slope at the end", tail.slope_per_1k, "nats per 1k steps",
                 f"{_name(facts)}: least-squares fit over steps {format_value(tail.start_step)}-"
                 f"{format_value(tail.end_step)} ({tail.points} points)"),
        _end_evidence(facts),
    ]
    level = _level(facts, t)
    strength = 0.5
    if gain is not None:
        evidence.insert(0, Evidence("gain per doubling of the steps", round(gain, 4), "nats/token",
                                    f"{_name(facts)}: fit against log2(step) over the same window"))
        strength = strength_past(gain, t.still_improving_per_doubling, t.still_improving_strong_per_doubling)
    if not level.high:
        strength /= 2
    end_loss, state = facts.end_loss, f"the loss was still falling {rate}"
    if facts.val is not None and facts.val.min is not None:
        end_loss = facts.val.last.value
        state = f"val loss {format_value(end_loss)} and still falling {rate}"
        evidence.append(Evidence("last val loss", facts.val.last.value, "nats/token",
                                 f"{_name(facts)}: val loss, step {format_value(facts.val.last.step)}"))
    evidence += _level_evidence(facts, level)
    message = f"the loss was still falling {rate} when the log ends at step {last}"
    if gain is not None:
        message += f" (about {gain:.2g} nats/token per doubling of the steps)"
    fix = f"Continue training from step {last} (resume its checkpoint): {state}."
    lr = facts.lr
    if lr is not None:
        evidence.append(Evidence("final lr / peak lr", lr.final_over_peak, "",
                                 f"{_name(facts)}: lr at steps {format_value(lr.peak.step)} and {format_value(lr.final.step)}"))
        if lr.final_over_peak <= t.min_lr_ratio * (1 + t.min_lr_ratio_tolerance):
            message += "; the lr schedule had already decayed to its end"
            fix = (f"Retrain (or resume) with a longer schedule, raising max_iters and lr_decay_iters together: "
                   f"at step {last} the lr had finished decaying with {state}.")
        else:
            message += f"; the lr was still at {lr.final_over_peak:.0%} of its peak (not yet decayed to its end)"
            planned = facts.planned_steps
            if planned is not None and facts.last.step >= t.early_stop_fraction * planned.value:
                # the run finished its planned steps: the schedule, not the stopping point, was too long
                message += f" at the planned end, step {planned.value:,}"
                evidence.append(Evidence("planned steps", planned.value, "", planned.source))
                fix = (f"The lr schedule is longer than the run: set lr_decay_iters = max_iters = {planned.value:,} "
                       "(or train as long as the schedule) so the lr decays to min_lr by the last step.")
    return [STILL_IMPROVING.finding(message, evidence, strength=strength, fix=fix, subject=facts.path)]


def unfinished(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    planned = facts.planned_steps
    # the last evaluation may come after the last logged train loss (llama2.c evaluates, then saves, at step N)
    end = max(facts.last.step, facts.val.last.step if facts.val is not None else facts.last.step)
    if planned is None or end >= t.early_stop_fraction * planned.value or _broke_down(facts, t):
        return []  # resuming a run that diverged or went NaN repeats the failure: DIVERGED / NAN say why
    last = format_value(end)
    fraction = end / planned.value
    strength = strength_past(fraction, t.early_stop_fraction, t.early_stop_strong_fraction)
    decisive = strength >= 1.0 and _level(facts, t).high
    source = (_loss_source(facts, end) if end == facts.last.step
              else f"{_name(facts)}: val loss, step {format_value(end)}")
    return [UNFINISHED.finding(
        f"the log ends at step {last} of {planned.value:,} planned ({fraction:.0%})",
        [Evidence("last step", end, "", source),
         Evidence("planned steps", planned.value, "", planned.source),
         Evidence("threshold early_stop_strong_fraction", t.early_stop_strong_fraction, "of planned steps",
                  "tsdiag thresholds")],
        severity=Severity.ERROR if decisive else Severity.WARNING, strength=strength,
        fix=(f"Resume from the checkpoint at step {last} and train to step {planned.value:,}; if this is the state "
             f"of an intermediate checkpoint, use the run's final one."),
        subject=facts.path,
    )]


def loss_high(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    level = _level(facts, t)
    if facts.val is not None and facts.val.min is not None:
        evidence = Evidence("last val loss", facts.val.last.value, "nats/token",
                            f"{_name(facts)}: val loss, step {format_value(facts.val.last.step)}")
        what = f"val loss {format_value(facts.val.last.value)} at step {format_value(facts.val.last.step)}"
    else:
        evidence = _end_evidence(facts)
        what = (f"{facts.curve.replace('_', ' ')} loss {format_value(facts.end_loss)} at step "
                f"{format_value(facts.last.step)}")
    if not level.high or facts.diverged or (facts.vocab is not None and facts.vocab.ends_at_chance):
        return []  # a diverged run or one at chance level has a more precise finding than "train longer"
    if level.unit != "nats/token":
        what += f" ({level.value:.3g} {level.unit})"
    strength = 0.4 * strength_past(level.value, level.threshold, 2 * level.threshold)
    fix = None
    message = (f"the run ends at {what}, above {level.threshold:g} {level.unit} where TinyStories models still write "
               f"broken English")
    if facts.still_improving is False:
        # a flat curve: more of the same steps will not bring it down, so this says little about stopping early
        strength /= 2
        message += "; the curve has flattened"
        fix = ("The curve has flattened, so more steps of this setup buy little: the loss is held up by the model's "
               "size (dim, layers), the amount of data, or the H3/H1 findings. Compare with llama2.c's published "
               "models of a similar size before training longer.")
    return [LOSS_HIGH.finding(
        message,
        [evidence, *(_level_evidence(facts, level) or
                     [Evidence("threshold val_loss_high", t.val_loss_high, "nats/token", "tsdiag thresholds")])],
        strength=strength, fix=fix, subject=facts.path,
    )]


def nan(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    if not facts.nonfinite_points:
        return []
    first = facts.first_nonfinite
    return [NAN.finding(
        f"{facts.nonfinite_points:,} non-finite loss values, the first ({first.value}) at step {format_value(first.step)}",
        [Evidence("non-finite loss values", facts.nonfinite_points, "points", f"{_name(facts)}: {facts.curve} loss"),
         Evidence("first non-finite loss", first.value, "", _loss_source(facts, first.step))],
        fix=(f"Restart from the last checkpoint before step {format_value(first.step)} with a lower lr, gradient "
             f"clipping (grad_clip=1.0) and bf16 or a grad scaler instead of plain fp16."),
        subject=facts.path,
    )]


def _lower_lr(facts: CurveFacts, t: Thresholds) -> str:
    if facts.lr is None:
        return "a lower peak lr (half the current one)"
    peak = facts.lr.peak.value
    return f"peak lr {format_value(min(peak / 2, t.lr_max))} (was {format_value(peak)})"


def diverged(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    if not facts.diverged or facts.min is None or facts.tail is None or not facts.ends_finite:
        return []  # a non-finite end is TSD-H3-LOG-NAN's to report
    best = facts.min
    return [DIVERGED.finding(
        f"the loss ends at {facts.tail.median:.3f}, {facts.tail.median / best.value:.2f}x its best "
        f"{best.value:.3f} at step {format_value(best.step)} (threshold {t.loss_spike_factor:g}x)",
        [_end_evidence(facts),
         Evidence("best loss", best.value, "nats/token", _loss_source(facts, best.step))],
        fix=f"Restart from the checkpoint nearest step {format_value(best.step)} with {_lower_lr(facts, t)}.",
        subject=facts.path,
    )]


def spikes(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    if not facts.spikes or facts.diverged:
        return []
    worst = max(facts.spikes, key=lambda s: s.peak_loss / s.running_min)
    steps = ", ".join(format_value(s.start_step) for s in facts.spikes[:5])
    more = f" and {len(facts.spikes) - 5} more" if len(facts.spikes) > 5 else ""
    return [SPIKES.finding(
        f"{len(facts.spikes)} loss spike(s) above {t.loss_spike_factor:g}x the best loss so far, at step(s) "
        f"{steps}{more}; the worst reached {worst.peak_loss:.3f} against a best of {worst.running_min:.3f}",
        [Evidence("spikes", len(facts.spikes), "events", f"{_name(facts)}: after the first "
                  f"{t.spike_warmup_fraction:.0%} of steps"),
         Evidence("worst spike loss", worst.peak_loss, "nats/token", _loss_source(facts, worst.start_step)),
         Evidence("best loss before it", worst.running_min, "nats/token", f"{_name(facts)}: running minimum")],
        fix=(f"Lower the lr ({_lower_lr(facts, t)}) or add gradient clipping (grad_clip=1.0); look at the batches "
             f"around step {format_value(worst.start_step)}."),
        subject=facts.path,
    )]


def lr_high(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    lr = facts.lr
    if lr is None or not lr.peak.value > t.lr_max:
        return []
    message = f"peak lr {format_value(lr.peak.value)} at step {format_value(lr.peak.step)} is above {format_value(t.lr_max)}"
    evidence = [Evidence("peak lr", lr.peak.value, "", f"{_name(facts)}: lr, step {format_value(lr.peak.step)}"),
                Evidence("threshold lr_max", t.lr_max, "", "tsdiag thresholds")]
    if lr.warmup_steps == 0:
        message += ", from step 0 without warmup"
        evidence.append(Evidence("warmup steps", 0, "steps", f"{_name(facts)}: lr at step 0 is the peak"))
    unstable = [what for what, seen in (("spikes", bool(facts.spikes)), ("divergence", bool(facts.diverged)),
                                        ("non-finite loss", bool(facts.nonfinite_points))) if seen]
    if unstable:
        message += f"; the log also shows {', '.join(unstable)}"
    strong = lr.peak.value >= t.lr_high_strong_factor * t.lr_max
    if strong:
        message += f" ({lr.peak.value / t.lr_max:.0f}x lr_max)"
    return [LR_HIGH.finding(
        message, evidence,
        severity=Severity.ERROR if unstable or strong else Severity.WARNING,
        strength=max(strength_past(lr.peak.value, t.lr_max, t.lr_high_strong_factor * t.lr_max),
                     1.0 if unstable else 0.0),
        fix=(f"Retrain with a peak lr of at most {format_value(t.lr_max)} (llama2.c uses 5e-4; this run used "
             f"{format_value(lr.peak.value)}), with warmup and cosine decay to lr/10."),
        subject=facts.path,
    )]


def lr_constant(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    lr = facts.lr
    if lr is None or not lr.constant or lr.points < t.log_tail_min_points:
        return []
    return [LR_CONSTANT.finding(
        f"the lr stays at {format_value(lr.peak.value)} for all {lr.points:,} logged values, steps "
        f"{format_value(lr.first.step)}-{format_value(lr.final.step)}",
        [Evidence("lr", lr.peak.value, "", f"{_name(facts)}: every logged lr"),
         Evidence("lr values logged", lr.points, "points", f"{_name(facts)}: lr")],
        subject=facts.path,
    )]


def ratio_low(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    a = facts.articles
    if a is None or a.other_loss is None or a.ratio.min is None:
        return []
    from tsdiag.units import loss_level

    ratio, other = a.ratio.last, a.other_loss.last
    level = loss_level(other.value, facts.bytes_per_token, t)
    if not (ratio.value < t.weighted_ratio_low and level.high):
        return []
    evidence = [
        Evidence("article/other loss ratio", ratio.value, "x",
                 f"{_name(facts)}: {a.ratio_source}, step {format_value(ratio.step)}"),
        Evidence("other-token loss", other.value, "nats/token",
                 f"{_name(facts)}: other loss, step {format_value(other.step)}"),
        Evidence("threshold weighted_ratio_low", t.weighted_ratio_low, "x", "tsdiag thresholds"),
    ]
    if a.article_loss is not None:
        evidence.insert(1, Evidence("article loss", a.article_loss.last.value, "nats/token",
                                    f"{_name(facts)}: article loss, step {format_value(a.article_loss.last.step)}"))
    if a.empty_batches:
        evidence.append(Evidence("points with article loss 0 left out", a.empty_batches, "points",
                                 f"{_name(facts)}: batches with no article target"))
    shown = f"{other.value:.3g} nats/token" + (f" = {level.value:.3g} {level.unit}" if level.unit != "nats/token"
                                               else "")
    message = (f"at step {format_value(ratio.step)} the article loss is {ratio.value:.2f}x the other-token loss, "
               f"which is still {shown} (above {level.threshold:g} {level.unit})")
    severity = Severity.WARNING
    v = facts.vocab
    if v is not None and other.value >= (1 - t.initial_loss_tolerance) * v.ln_vocab:
        severity = Severity.ERROR
        message += f" and at chance level (ln({v.size:,}) = {v.ln_vocab:.3f}): the model learned articles and nothing else"
        evidence.extend(_vocab_evidence(facts))
    else:
        message += ": the weighted tokens are fitted at the expense of every other token"
    return [RATIO_LOW.finding(message, evidence, severity=severity,
                              strength=strength_past(ratio.value, t.weighted_ratio_low, t.weighted_ratio_low / 3)
                              if severity < Severity.ERROR else 1.0, subject=facts.path)]


def overfit(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    o = facts.overfit
    if o is None:
        return []
    evidence = [Evidence("best val loss", o.best_val.value, "nats/token",
                         f"{_name(facts)}: val loss, step {format_value(o.best_val.step)}"),
                Evidence("last val loss", o.last_val.value, "nats/token",
                         f"{_name(facts)}: val loss, step {format_value(o.last_val.step)}"),
                Evidence("threshold overfit_val_rise", t.overfit_val_rise, "nats/token", "tsdiag thresholds")]
    gap = ""
    if o.train_at_last_val is not None:
        evidence.insert(2, Evidence("train loss there", o.train_at_last_val.value, "nats/token",
                                    f"{_name(facts)}: train loss, step {format_value(o.train_at_last_val.step)}"))
        gap = f" while the train loss fell to {o.train_at_last_val.value:.3f} (gap {o.gap:.3f})"
    strong = o.rise >= t.overfit_strong_rise
    return [OVERFIT.finding(
        f"val loss rose from its best {o.best_val.value:.3f} at step {format_value(o.best_val.step)} to "
        f"{o.last_val.value:.3f} at step {format_value(o.last_val.step)}{gap}: the model memorises its training data",
        evidence, severity=Severity.ERROR if strong else Severity.WARNING,
        strength=strength_past(o.rise, t.overfit_val_rise, t.overfit_strong_rise),
        fix=(f"Use the checkpoint at step {format_value(o.best_val.step)} (best val loss) and train on more data; "
             "a smaller model or more dropout helps too. Training longer only widens the gap."),
        subject=facts.path,
    )]


def few_points(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    if facts.tail is not None:
        return []
    return [FEW_POINTS.finding(
        f"{facts.points} {facts.curve.replace('_', ' ')} loss value(s): too few (or all at one step) for a "
        f"window of {t.log_tail_min_points} points at the end; trend, spikes and divergence are unknown",
        [Evidence("loss values", facts.points, "points", f"{_name(facts)}: {facts.curve} loss")],
        subject=facts.path,
    )]


def restarted(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    if facts.segments < 2:
        return []
    return [RESTARTED.finding(
        f"the step counter went backwards {facts.segments - 1} time(s); only the last run, from step "
        f"{format_value(facts.first.step)}, is analysed",
        [Evidence("runs in the log", facts.segments, "runs", f"{_name(facts)}: {facts.curve} loss steps"),
         Evidence("analysed from step", facts.first.step, "", _loss_source(facts, facts.first.step))],
        subject=facts.path,
    )]


def resumed(facts: CurveFacts, t: Thresholds) -> list[Finding]:
    """Resumes (the step counter repeats or goes back to a step > 0), each with the loss and lr around it."""
    out = []
    for r in facts.resumes:
        if r.step_after <= 0:   # back to step 0: a new run in the same file (TSD-LOG-RESTARTED)
            continue
        where = f"{_name(facts)}: steps {format_value(r.step_before)} -> {format_value(r.step_after)}"
        evidence = [Evidence("last step before", r.step_before, "", where),
                    Evidence("first step after", r.step_after, "", where),
                    Evidence("loss before / after", f"{r.loss_before:.4g} / {r.loss_after:.4g}", "nats/token",
                             f"median of up to 3 points each side ({where})")]
        if r.lr_after is not None:
            evidence.append(Evidence("lr before / after", f"{r.lr_before:.3g} / {r.lr_after:.3g}", "", where))
        jump = r.loss_jump
        if jump >= t.resume_loss_jump or r.lr_rises_after:
            what = (f"the loss jumped {jump:.2f}x" if jump >= t.resume_loss_jump else
                    f"the lr climbs again from {r.lr_after:.3g} (peak before {r.lr_peak_before:.3g})")
            out.append(RESUME_JUMP.finding(
                f"resumed at step {format_value(r.step_after)} (logged up to {format_value(r.step_before)}): {what}",
                evidence + [Evidence("threshold resume_loss_jump", t.resume_loss_jump, "x loss before", "thresholds")],
                strength=max(strength_past(jump, t.resume_loss_jump, 2 * t.resume_loss_jump - 1),
                             0.5 if r.lr_rises_after else 0.0), subject=facts.path))
        else:
            out.append(RESUMED.finding(
                f"resumed at step {format_value(r.step_after)} (logged up to {format_value(r.step_before)}); the loss "
                f"carries on ({r.loss_before:.4g} -> {r.loss_after:.4g})", evidence, subject=facts.path))
    return out


RULE_FUNCTIONS: tuple[Callable[[CurveFacts, Thresholds], list[Finding]], ...] = (
    fresh_start, at_chance, still_improving, unfinished, loss_high, nan, diverged, spikes, lr_high, lr_constant,
    ratio_low, overfit, few_points, restarted, resumed,
)


def evaluate(facts: CurveFacts, thresholds: Thresholds) -> list[Finding]:
    """Every finding the curve supports."""
    return [finding for rule in RULE_FUNCTIONS for finding in rule(facts, thresholds)]
