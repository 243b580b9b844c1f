"""Findings from an evaluation: the checkpoint's loss against its run's record, the article slots, the probes.

Each rule reads :class:`~tsdiag.evaluation.facts.EvalFacts` and a :class:`~tsdiag.thresholds.Thresholds`;
none fires without the measured numbers as evidence.
"""

from __future__ import annotations

from tsdiag.evaluation.facts import EvalFacts, RecordedLoss, TextScore
from tsdiag.findings import Evidence, Finding, Severity, define_rule, strength_past
from tsdiag.thresholds import Thresholds

ABOVE_RECORDED = define_rule(
    "TSD-H1-EVAL-ABOVE-RECORDED",
    "The checkpoint scores the data far worse than the val loss saved with it: the data is not what it was trained on",
    Severity.WARNING,
    escalation="the gap is at least eval_gap_strong",
    why=("A checkpoint stores the val loss its trainer measured when it saved. Run on the same kind of data it "
         "must land near it; a loss far above means the data (or its tokenizer or --dtype) differs from what the "
         "run saw, so every data-based reading of the run is about other data."),
    fix="Evaluate on the run's own val shard with its tokenizer; if this is that data, re-check how it was "
        "tokenized (tsdiag audit-data) against the run's tokenizer.",
    hypothesis="H1",
)
ABOVE_LOG = define_rule(
    "TSD-H5-EVAL-ABOVE-LOG",
    "The checkpoint scores the data far worse than its run's log ended: it is not the state the run reached",
    Severity.WARNING,
    escalation="the gap is at least eval_gap_strong",
    why=("The log's last val loss is what the run reached. A checkpoint that scores the same data far worse "
         "is an earlier or another run's state (a stale copy, a resumed run saved elsewhere); judging the run by "
         "it shows an undertrained model. Unlike file dates, this does not depend on names or timestamps."),
    fix="Find the checkpoint the run wrote at its last evaluation (its out_dir, or a later copy) and evaluate it.",
    hypothesis="H5",
)
ARTICLES_AVOIDED = define_rule(
    "TSD-H1-EVAL-ARTICLES-AVOIDED",
    "Where the text has an article, the model puts less probability on one than a context-free guess would",
    Severity.WARNING,
    escalation="P(article) at the slots is at most article_avoid_strong x the articles' unigram share",
    why=("A model that learned anything of the text gives articles, the commonest words, several times their "
         "unigram share where one follows. A learned model that gives them less has learned that articles "
         "rarely come: its training text had few (article-stripped or filtered data)."),
    fix="Audit the training data's article rate (tsdiag audit-data SHARDS --tokenizer TOK) and retrain on text "
        "that keeps its articles.",
    hypothesis="H1",
)
LABEL_SHIFT = define_rule(
    "TSD-H1-EVAL-LABEL-SHIFT",
    "The model predicts another token than the next one: its labels were shifted wrongly in training",
    Severity.ERROR,
    why=("A causal LM trained on (x, x shifted by one) fits the next token best. One that fits the token two "
         "ahead was trained on labels shifted twice (shifted in the data pipeline and again in the loss); one "
         "that fits the current token was trained with no shift and learned to copy."),
    fix="Shift the labels once: either the dataset yields y = x[1:] or the model shifts inside its loss, not both.",
    hypothesis="H1",
)
FUTURE_LEAK = define_rule(
    "TSD-EVAL-FUTURE-LEAK",
    "With the causal mask lifted the model reads the next token: it was trained with a leaking mask",
    Severity.WARNING,
    escalation="the future-visible loss is at most future_leak_strong x the causal loss",
    why=("A model trained causally cannot use positions it never saw and loses when shown them. One whose loss "
         "collapses when it sees the whole window learned to copy the next token, which only a mask that let the "
         "future through during training teaches; its training loss was near zero and its text is noise."),
    fix="Train with a causal mask (is_causal=True, or a lower-triangular attn_mask) and check the training loss "
        "against the evaluated one.",
)
NOT_CAUSAL = define_rule(
    "TSD-EVAL-NOT-CAUSAL",
    "The loaded model's logits at a position change when later tokens change",
    Severity.ERROR,
    why="A language model's prediction at position t may depend on tokens up to t only; otherwise every loss it "
        "reports is measured with the answer in view.",
    fix="Report this: the model as loaded is not causal, so its evaluation is meaningless.",
)
DROPOUT_AT_EVAL = define_rule(
    "TSD-EVAL-DROPOUT-AT-EVAL",
    "The val loss the run recorded matches the model in train mode: the trainer evaluated with dropout on",
    Severity.WARNING,
    why=("With dropout on, a model scores worse than it is. A recorded val loss that matches the train-mode loss "
         "and stands well above the eval-mode loss was measured without model.eval(): every val figure of the "
         "run (and a best-checkpoint choice made on it) is inflated."),
    fix="Call model.eval() before estimating the val loss (and model.train() after).",
)
UNTIED_HEAD = define_rule(
    "TSD-EVAL-UNTIED-HEAD",
    "The output layer and the token embedding differ where the trainer ties them",
    Severity.WARNING,
    why=("llama2.c and nanoGPT share one matrix between the token embedding and the output layer. A file where "
         "the two differ lost the tie (a load that copied them apart, an optimizer that trained them "
         "separately): the model has twice the vocabulary parameters its config says."),
    fix="Re-tie after loading (model.output.weight = model.tok_embeddings.weight) and check the save/load path.",
)
FINAL_NORM = define_rule(
    "TSD-EVAL-FINAL-NORM-UNTRAINED",
    "The final norm is still at its init while the blocks' norms were trained",
    Severity.WARNING,
    why="Every norm's scale moves from 1 in training; a final norm exactly at 1 was left out of the optimizer or "
        "replaced by a fresh one on load.",
    fix="Check that the final norm's parameters are in the optimizer and in the saved state dict.",
)
WEIGHTED_WORSE = define_rule(
    "TSD-W-EVAL-WORSE-THAN-STANDARD",
    "The article-weighted model scores the data worse than its matched standard run",
    Severity.WARNING,
    escalation="it also puts no more probability on articles at the article slots than the standard run",
    why=("The weighted objective is meant to buy articles. Run on the same windows, a weighted model with a higher "
         "loss paid for its weighting with every other token; if its article slots are no better either, the "
         "weighting bought nothing."),
    fix="Train with the standard objective (tsdiag retrain --standard) and fix the cause the other rows name.",
    hypothesis="W",
)
RULES = (ABOVE_RECORDED, ABOVE_LOG, ARTICLES_AVOIDED, LABEL_SHIFT, FUTURE_LEAK, NOT_CAUSAL, DROPOUT_AT_EVAL,
         UNTIED_HEAD, FINAL_NORM, WEIGHTED_WORSE)


def eval_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    """Every finding about one evaluation."""
    return (_gap_findings(facts, t) + _article_findings(facts, t) + _probe_findings(facts, t)
            + _against_findings(facts, t))


def loss_evidence(facts: EvalFacts) -> Evidence:
    loss = facts.data_score.loss
    return Evidence("evaluated loss", round(loss.nats, 4), "nats/token",
                    f"tsdiag eval: {loss.windows:,} windows of {', '.join(facts.data)}, 95% interval "
                    f"{loss.low:.4f}-{loss.high:.4f}")


def recorded_evidence(r: RecordedLoss) -> Evidence:
    return Evidence(f"{r.kind}'s {r.split} loss", round(r.value, 4), "nats/token", r.source)


def _gap(facts: EvalFacts, r: RecordedLoss, t: Thresholds) -> float:
    """How far the evaluated loss stands above ``r`` beyond its own interval (<= 0: no gap)."""
    loss = facts.data_score.loss
    return loss.nats - r.value - loss.half_width


def _gap_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    out = []
    saved = [r for r in facts.recorded if r.kind == "checkpoint"]
    logged = [r for r in facts.recorded if r.kind == "log" and r.split == "val"]
    saved_gap = _gap(facts, saved[0], t) if saved else None
    if saved and saved_gap > t.eval_gap_margin and not _dropout_explains(facts, saved[0], t):
        out.append(_gap_finding(ABOVE_RECORDED, facts, saved[0], saved_gap, t,
                                "the data (or tokenizer) is not what the run evaluated on"))
    # the log speaks to the file only when the file's own record agrees with the evaluation (else: H1 above)
    if logged and (saved_gap is None or saved_gap <= t.eval_gap_margin):
        gap = _gap(facts, logged[0], t)
        if gap > t.eval_gap_margin and not _dropout_explains(facts, logged[0], t):
            out.append(_gap_finding(ABOVE_LOG, facts, logged[0], gap, t, "the checkpoint is not the run's end"))
    return out


def _gap_finding(rule, facts: EvalFacts, r: RecordedLoss, gap: float, t: Thresholds, meaning: str) -> Finding:
    strength = strength_past(gap, t.eval_gap_margin, t.eval_gap_strong)
    evidence = [loss_evidence(facts), recorded_evidence(r),
                Evidence("eval_gap_margin", t.eval_gap_margin, "nats/token", "threshold eval_gap_margin")]
    return rule.finding(
        f"evaluated loss {facts.data_score.loss.nats:.4f} nats/token is {gap:.3f} above the {r.kind}'s {r.split} "
        f"loss {r.value:.4f} beyond its interval: {meaning}", evidence,
        severity=Severity.ERROR if gap >= t.eval_gap_strong else Severity.WARNING, strength=strength,
        subject=facts.checkpoint)


def _dropout_explains(facts: EvalFacts, r: RecordedLoss, t: Thresholds) -> bool:
    """A recorded loss *above* the eval-mode one that train mode reproduces is dropout at eval, not a gap."""
    probe = facts.probes.get("dropout")
    if probe is None or not probe.ran:
        return False
    train_mode = facts.data_score.loss.nats + probe.values["train_minus_eval"]
    return abs(r.value - train_mode) < abs(r.value - facts.data_score.loss.nats)


def _article_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    for score in (facts.scores.get("reference"), facts.scores.get("data")):
        finding = _avoided(facts, score, t) if score is not None else None
        if finding is not None:
            return [finding]
    return []


def _avoided(facts: EvalFacts, score: TextScore, t: Thresholds) -> Finding | None:
    a = score.articles
    if a is None or a.slots < t.eval_min_slots or not a.article_share or a.slot_probability is None:
        return None
    if score.loss.nats > score.unigram_entropy - t.context_learned_margin:
        return None  # the model has not learned context: it avoids every word alike
    ratio = a.slot_probability / a.article_share
    if ratio >= t.article_avoid_factor:
        return None
    strength = strength_past(ratio, t.article_avoid_factor, t.article_avoid_strong)
    evidence = [Evidence("P(article) at article slots", round(a.slot_probability, 4), "probability",
                         f"tsdiag eval on {score.source}: {a.slots:,} slots"),
                Evidence("articles' share of targets", round(a.article_share, 4), "share", score.source),
                Evidence("top-1 is the word after the article", round(a.slot_skips or 0.0, 4), "share of slots",
                         score.source),
                Evidence("article_avoid_factor", t.article_avoid_factor, "x unigram share",
                         "threshold article_avoid_factor")]
    return ARTICLES_AVOIDED.finding(
        f"at {a.slots:,} article slots of {score.source} the model gives articles {a.slot_probability:.2%} "
        f"probability, {ratio:.2f}x their {a.article_share:.2%} share of the text", evidence,
        severity=Severity.ERROR if ratio <= t.article_avoid_strong else Severity.WARNING, strength=strength,
        subject=facts.checkpoint)


def _probe_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    out = []
    p = facts.probes
    source = f"tsdiag eval probe on {', '.join(facts.data)}"
    shift = p.get("label_shift")
    if shift is not None and shift.ran and shift.values["best_offset"] != 1:
        best = shift.values["best_offset"]
        margin = shift.values["offset_1"] - shift.values[f"offset_{best}"]
        # an undertrained model copies frequent tokens a little better than it predicts: only a model that
        # learned its offset (below the unigram entropy) says which offset it was trained on
        learned = shift.values[f"offset_{best}"] < facts.data_score.unigram_entropy - t.context_learned_margin
        if margin > t.label_shift_margin and learned:
            out.append(LABEL_SHIFT.finding(
                f"the model's loss is {shift.values[f'offset_{best}']:.3f} against the token at offset {best} but "
                f"{shift.values['offset_1']:.3f} against the next token",
                [Evidence(f"loss against offset {k}", round(shift.values[f"offset_{k}"], 4), "nats/token", source)
                 for k in (0, 1, 2)] + [Evidence("label_shift_margin", t.label_shift_margin, "nats/token",
                                                 "threshold label_shift_margin")],
                subject=facts.checkpoint))
    leak = p.get("future_visible")
    if leak is not None and leak.ran and leak.values["causal_loss"] > 0:
        ratio = leak.values["future_visible_loss"] / leak.values["causal_loss"]
        if ratio < t.future_leak_ratio:
            out.append(FUTURE_LEAK.finding(
                f"seeing the whole window drops the loss from {leak.values['causal_loss']:.3f} to "
                f"{leak.values['future_visible_loss']:.3f} nats/token ({ratio:.2f}x)",
                [Evidence("causal loss", round(leak.values["causal_loss"], 4), "nats/token", source),
                 Evidence("future-visible loss", round(leak.values["future_visible_loss"], 4), "nats/token", source),
                 Evidence("future_leak_ratio", t.future_leak_ratio, "", "threshold future_leak_ratio")],
                severity=Severity.ERROR if ratio <= t.future_leak_strong else Severity.WARNING,
                strength=strength_past(ratio, t.future_leak_ratio, t.future_leak_strong), subject=facts.checkpoint))
    causal = p.get("causal")
    if causal is not None and causal.ran and causal.values["max_logit_change"] > t.causal_logit_tolerance:
        out.append(NOT_CAUSAL.finding(
            f"changing the tokens after position {causal.values['position']} changes the logits before it by "
            f"{causal.values['max_logit_change']:.3g}",
            [Evidence("max logit change", causal.values["max_logit_change"], "logit", source),
             Evidence("causal_logit_tolerance", t.causal_logit_tolerance, "logit", "threshold causal_logit_tolerance")],
            subject=facts.checkpoint))
    out += _dropout_findings(facts, t)
    tied = p.get("tied")
    if tied is not None and tied.ran and not tied.values["tied"]:
        out.append(UNTIED_HEAD.finding(
            f"the {facts.family} layout ties the output layer to the embedding, but the file's two matrices differ "
            f"(relative difference {tied.values['relative_difference']:.3g})",
            [Evidence("max |output - embedding|", round(tied.values["max_abs_difference"], 6), "",
                      f"{facts.checkpoint}: output vs token embedding"),
             Evidence("relative difference", round(tied.values["relative_difference"], 4), "",
                      f"{facts.checkpoint}: output vs token embedding")],
            subject=facts.checkpoint))
    norm = p.get("final_norm")
    if norm is not None and norm.ran and norm.values["block_norms_mean_abs_from_one"] is not None:
        final, blocks = norm.values["final_norm_mean_abs_from_one"], norm.values["block_norms_mean_abs_from_one"]
        if final == 0.0 and blocks > t.norm_moved_min:
            out.append(FINAL_NORM.finding(
                f"the final norm's scales are all exactly 1 while the blocks' norms moved {blocks:.3f} on average",
                [Evidence("final norm mean |scale - 1|", final, "", f"{facts.checkpoint}: final norm weight"),
                 Evidence("block norms mean |scale - 1|", round(blocks, 4), "", f"{facts.checkpoint}: block norms"),
                 Evidence("norm_moved_min", t.norm_moved_min, "", "threshold norm_moved_min")],
                subject=facts.checkpoint))
    return out


def _dropout_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    probe = facts.probes.get("dropout")
    if probe is None or not probe.ran:
        return []
    eval_mode = facts.data_score.loss.nats
    train_mode = eval_mode + probe.values["train_minus_eval"]
    for r in (r for r in facts.recorded if r.split == "val"):
        if r.value - eval_mode > facts.data_score.loss.half_width + t.eval_gap_margin and _dropout_explains(facts, r, t):
            return [DROPOUT_AT_EVAL.finding(
                f"the {r.kind}'s val loss {r.value:.4f} matches the train-mode loss {train_mode:.4f} (dropout "
                f"{probe.values['dropout']:g}), not the eval-mode {eval_mode:.4f}",
                [recorded_evidence(r), loss_evidence(facts),
                 Evidence("train-mode loss", round(train_mode, 4), "nats/token",
                          f"tsdiag eval: eval-mode loss + the dropout probe's gap ({probe.note})")],
                subject=facts.checkpoint)]
    return []


def _against_findings(facts: EvalFacts, t: Thresholds) -> list[Finding]:
    other = facts.against
    if other is None or facts.recipe.get("article_weight", 1.0) <= 1.0:
        return []
    mine, theirs = facts.data_score.loss, other.data_score.loss
    gap = mine.nats - theirs.nats - max(mine.half_width, theirs.half_width)
    if gap <= t.other_loss_margin:
        return []
    evidence = [loss_evidence(facts), loss_evidence(other)]
    no_gain = False
    mine_a, theirs_a = _slot_probability(facts), _slot_probability(other)
    if mine_a is not None and theirs_a is not None:
        no_gain = mine_a <= theirs_a
        evidence += [Evidence("P(article) at slots, weighted", round(mine_a, 4), "probability", facts.checkpoint),
                     Evidence("P(article) at slots, standard", round(theirs_a, 4), "probability", other.checkpoint)]
    return [WEIGHTED_WORSE.finding(
        f"on the same {mine.windows:,} windows the weighted model scores {mine.nats:.4f} nats/token, the standard "
        f"run {theirs.nats:.4f}" + ("; its article slots are no better" if no_gain else ""), evidence,
        severity=Severity.ERROR if no_gain else Severity.WARNING,
        strength=strength_past(gap, t.other_loss_margin, t.other_loss_strong_margin), subject=facts.checkpoint)]


def _slot_probability(facts: EvalFacts) -> float | None:
    score = facts.scores.get("reference") or facts.data_score
    return score.articles.slot_probability if score.articles is not None else None
