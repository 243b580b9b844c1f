"""Findings about a checkpoint: pure functions of :class:`CheckpointInspection` and thresholds.

No file is read here.  Every finding quotes the numbers it rests on and where
each came from; a value that is unknown means no finding, never a guess.
"""

from __future__ import annotations

from tsdiag.checkpoint.facts import INFERRED, RECORDED, CheckpointInspection, Sourced
from tsdiag.findings import Evidence, Finding, Severity, define_rule, format_value, strength_past
from tsdiag.reference import LLAMA2C_MODELS, LLAMA2C_SOURCE
from tsdiag.thresholds import Thresholds

VOCAB = define_rule(
    "TSD-H4-VOCAB", "Vocabulary much larger than the ~10K tokens that cover TinyStories", Severity.WARNING,
    why="Most rows of a 32K-50K embedding belong to tokens TinyStories never uses; they cost parameters and slow "
        "learning on a small budget. It is a contributing factor, not a cause: llama2.c's stories15M trains with the "
        "32K Llama 2 vocabulary to val loss 1.072 and writes fluent stories.",
    fix="Check the other hypotheses first; then train longer or retrain with a top-10K vocabulary "
        "(remap the token ids of the data).",
    hypothesis="H4")
# the strength of TSD-H4-VOCAB grows with the embedding share of the parameters (embedding_share_large ->
# embedding_share_strong): a 32K vocabulary on a dim-288 model is fine, on a dim-64 model it is the model.
EARLY_STOP = define_rule(
    "TSD-H2-EARLY-STOP", "Checkpoint saved well before the planned number of steps", Severity.WARNING,
    escalation="the step is at most early_stop_strong_fraction of max_iters, no later checkpoint of the run is "
               "beside it, the trainer saves every evaluation (not only the best val loss) and the val loss is high",
    why="A run stopped at a fraction of max_iters has not finished its learning-rate schedule; small models on "
        "TinyStories learn articles and grammar late.",
    fix="Continue training from this checkpoint to max_iters (with its optimizer state), or use the run's final "
        "checkpoint.",
    hypothesis="H2")
VAL_LOSS_HIGH = define_rule(
    "TSD-H2-VAL-LOSS-HIGH", "Validation loss above the level where TinyStories models write proper English",
    Severity.WARNING,
    why="llama2.c's published TinyStories models reach 0.76-1.30 nats/token (about 0.4-0.8 bits per byte); above "
        "~1.2 bits/byte (2.0 nats/token at a 512 vocabulary) a model still drops function words such as articles. "
        "Judged per byte when the tokenizer is known. A high loss is what every cause looks like, so on its own it "
        "is weak evidence (strength at most 0.4).",
    fix="Train longer (more steps or tokens) and compare val loss with the published models at the same size.",
    hypothesis="H2")
LR_HIGH = define_rule(
    "TSD-H3-LR-HIGH", "Peak learning rate above what small decoders tolerate", Severity.WARNING,
    escalation="the learning rate is at least lr_high_strong_factor x lr_max",
    why="Above ~1e-3, small Llama/GPT decoders on TinyStories tend to diverge or plateau (llama2.c uses 5e-4).",
    fix="Retrain with learning_rate at or below 1e-3 (llama2.c: 5e-4, with warmup).",
    hypothesis="H3")
NO_WARMUP = define_rule(
    "TSD-H3-NO-WARMUP", "High learning rate with no warmup", Severity.WARNING,
    why="Starting at a high learning rate from random weights causes early loss spikes that a short linear warmup "
        "avoids.",
    fix="Add a warmup (llama2.c: 1000 steps) before the peak learning rate.",
    hypothesis="H3")
DECAY_MISMATCH = define_rule(
    "TSD-H3-DECAY-MISMATCH", "Learning-rate decay length differs from the run length", Severity.WARNING,
    why="With lr_decay_iters < max_iters the rest of the run trains at min_lr; with lr_decay_iters > max_iters "
        "the learning rate never decays (Chinchilla: decay over the whole run).",
    fix="Set lr_decay_iters equal to max_iters.",
    hypothesis="H3")
MIN_LR = define_rule(
    "TSD-H3-MIN-LR", "Minimum learning rate is not about a tenth of the peak", Severity.INFO,
    why="The Chinchilla/nanoGPT convention decays to learning_rate/10; much lower wastes the end of the run, much "
        "higher never anneals.",
    fix="Set min_lr to learning_rate / 10.",
    hypothesis="H3")
INIT_WEIGHTS = define_rule(
    "TSD-H5-INIT-WEIGHTS", "Weights statistically indistinguishable from a fresh initialisation", Severity.ERROR,
    why="If the weight matrices still have the statistics of their random init, this file is not a trained model: "
        "the wrong file was saved or loaded, or the optimizer never updated the weights.",
    fix="Load the checkpoint written after training (check the path and the step), and make sure the training loop "
        "calls optimizer.step() on the model's parameters.",
    hypothesis="H5")
NOT_LATEST = define_rule(
    "TSD-H5-NOT-LATEST", "A later checkpoint exists in the same folder", Severity.WARNING,
    escalation="the later checkpoint is at least twice as far along, or has a lower val loss",
    why="Sampling from an earlier checkpoint than the run's last one shows an undertrained model.",
    fix="Inspect and use the later checkpoint named in the evidence.",
    hypothesis="H5")
NOT_BEST = define_rule(
    "TSD-H5-NOT-BEST", "Another checkpoint in the same folder has a lower validation loss", Severity.WARNING,
    why="A trainer often writes both a best and a latest checkpoint; sampling from the worse one makes the model "
        "look worse than the run is.",
    fix="Use the checkpoint with the lower validation loss named in the evidence.",
    hypothesis="H5")
TOKENIZER_VOCAB = define_rule(
    "TSD-TOK-VOCAB-MISMATCH", "The tokenizer given does not fit the checkpoint's vocabulary", Severity.ERROR,
    why="A model's embedding has one row per token id of the tokenizer it was trained with (nanoGPT and HF pad a "
        "little, to a multiple of 64 or 128). A tokenizer with more pieces than rows, or far fewer, is not this "
        "model's: everything decoded or measured with it (samples, bits per byte) is wrong, so tsdiag stops "
        "converting losses with it.",
    fix="Pass the tokenizer the run was trained with (llama2.c: data/tok{N}.model for vocab_source=custom, the Llama 2 "
        "tokenizer.model for 32,000; nanoGPT: the dataset's meta.pkl).")
WEIGHTED_OBJECTIVE = define_rule(
    "TSD-W-WEIGHTED-OBJECTIVE", "The run was trained with an article-weighted loss", Severity.WARNING,
    why="Up-weighting article targets is a popular 'fix' for stories without articles; it is unproven and can make "
        "the rest of the language worse. A checkpoint whose config records article_weight > 1 was trained that way, "
        "so the objective is a suspect until a matched standard run shows otherwise. This says the objective was "
        "used, not that it harmed: tsdiag compare on a matched pair measures that.",
    fix="Train the matched standard run (tsdiag retrain --both --from THIS_CHECKPOINT) and compare the other-token "
        "loss; without a measured gain, train with the standard objective.",
    hypothesis="W")
NO_OPTIMIZER = define_rule(
    "TSD-CKPT-NO-OPTIMIZER", "Training checkpoint without optimizer state", Severity.INFO,
    why="Without AdamW's moments, training cannot resume exactly from this step; continuing restarts the moments "
        "from zero (a short re-warmup is needed).",
    fix="Save optimizer.state_dict() with the model when the run may be continued.")
NONFINITE = define_rule(
    "TSD-CKPT-NONFINITE", "NaN or Inf values in the weights or optimizer moments", Severity.ERROR,
    why="A NaN/Inf weight poisons every forward pass; a NaN/Inf optimizer moment poisons training when resumed. "
        "Weights blow up when the recipe is unstable (lr too high, no clipping, fp16 overflow): an H3 cause. "
        "Trainer bookkeeping (Lightning's ModelCheckpoint.kth_value = inf) is not counted.",
    fix="Go back to the last checkpoint without NaN/Inf and lower the learning rate or enable gradient clipping.",
    hypothesis="H3")
DROPOUT_HIGH = define_rule(
    "TSD-H3-DROPOUT-HIGH", "Dropout far above what small TinyStories models train with", Severity.WARNING,
    why="llama2.c and nanoGPT pretrain with dropout 0.0 (0.1 at most for small data); a high dropout slows "
        "learning and holds the loss up for a small model that is not overfitting yet.",
    fix="Retrain with dropout 0.0 (0.1 if val loss rises while train loss falls).",
    hypothesis="H3")
FROZEN_ROWS = define_rule(
    "TSD-CKPT-FROZEN-ROWS", "Embedding rows that never moved from their initialisation", Severity.WARNING,
    why="An untied embedding row gets a gradient only when its token occurs; rows still at init belong to tokens "
        "the model never saw, so the vocabulary is larger than the data uses. Byte-fallback and special pieces "
        "never occur in clean English, so they are not counted when the tokenizer is known; without it a "
        "vocabulary of at most vocab_large_factor x vocab_reference is not judged (its frozen rows are mostly "
        "those pieces).",
    fix="Remap the data to the tokens it uses (a top-K vocabulary) and retrain; frozen rows only cost parameters.",
    hypothesis="H4")

OPTIMIZER_RESET = define_rule(
    "TSD-H3-OPTIMIZER-RESET", "The optimizer's step count is behind the run's: its state was reset on a resume",
    Severity.WARNING,
    why="AdamW counts its own steps; a checkpoint whose optimizer has taken fewer steps than the run records was "
        "resumed with fresh moments (a trainer that saved only the model, or loaded the weights into a new "
        "optimizer). The first steps after it are unscaled by any moment history, the bias correction and a "
        "step-based warmup start over, and the loss can jump. llama2.c, nanoGPT, Lightning and the HF Trainer "
        "all save equal counts when resumed correctly.",
    fix="Resume with the optimizer's state_dict (and the scheduler's); if it is lost, warm the lr up again for a "
        "few hundred steps after the resume.",
    hypothesis="H3")

# every rule this module defines
RULES = (TOKENIZER_VOCAB, WEIGHTED_OBJECTIVE, DROPOUT_HIGH, VOCAB, EARLY_STOP, VAL_LOSS_HIGH, LR_HIGH, NO_WARMUP, DECAY_MISMATCH, MIN_LR, INIT_WEIGHTS, NOT_LATEST,
    NOT_BEST, NO_OPTIMIZER, NONFINITE, FROZEN_ROWS, OPTIMIZER_RESET)


def _ev(name: str, value: Sourced, unit: str = "") -> Evidence:
    suffix = " (inferred)" if value.origin == INFERRED and not value.source.startswith("inferred") else ""
    return Evidence(name, value.value, unit, value.source + suffix)


def vocab_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    vocab = c.architecture.vocab_size
    limit = t.vocab_reference * t.vocab_large_factor
    if vocab is None or vocab.value <= limit:
        return []
    arch = c.architecture
    ref = next(m for m in LLAMA2C_MODELS if m.name == "stories15M")
    evidence = [_ev("vocab_size", vocab, "tokens"),
                Evidence("vocab_reference", t.vocab_reference, "tokens", "threshold vocab_reference"),
                Evidence(f"llama2.c {ref.name} vocab", ref.vocab_size, "tokens", LLAMA2C_SOURCE),
                Evidence(f"llama2.c {ref.name} val loss", ref.val_loss, "nats/token", LLAMA2C_SOURCE)]
    share = ""
    if arch.n_params:
        frac = arch.n_params_embedding / arch.n_params
        evidence.insert(1, Evidence("embedding share of parameters", round(100 * frac, 1), "%",
                                    f"{arch.n_params_embedding:,} of {arch.n_params:,} parameters"))
        share = f"; {100 * frac:.0f}% of the parameters are embeddings"
    message = (f"vocabulary {vocab.value:,} is {vocab.value / t.vocab_reference:.1f}x the ~{t.vocab_reference:,} "
               f"tokens that cover TinyStories{share}. A contributing factor, not a cause: llama2.c's {ref.name} "
               f"uses {ref.vocab_size:,} tokens and reaches val loss {ref.val_loss}")
    strength = 0.3
    if arch.n_params:
        strength = max(0.1, strength_past(frac, t.embedding_share_large, t.embedding_share_strong))
        evidence.append(Evidence("threshold embedding_share_large", t.embedding_share_large, "of parameters",
                                 "tsdiag thresholds"))
    return [VOCAB.finding(message, evidence, strength=strength, subject=str(c.path))]


def _later_sibling(c: CheckpointInspection):
    step = c.training.step
    later = [s for s in c.siblings if step is not None and s.step is not None and s.step > step.value]
    return max(later, key=lambda s: s.step) if later else None


def _val_level(c: CheckpointInspection, t: Thresholds):
    from tsdiag.units import loss_level

    val = c.training.val_loss
    if val is None or not isinstance(val.value, (int, float)):
        return None
    return loss_level(float(val.value), c.bytes_per_token, t)


def training_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    out = []
    step, max_iters = c.training.step, c.hyperparameters.get("max_iters")
    level = _val_level(c, t)
    later = _later_sibling(c)
    if step is not None and max_iters is not None and max_iters.value > 0 and later is None:
        # a later checkpoint of the run beside this one: the run went on, TSD-H5-NOT-LATEST says so
        fraction = step.value / max_iters.value
        if fraction < t.early_stop_fraction:
            resume = "continue from it" if c.training.has_optimizer_state else "retrain (no optimizer state to resume)"
            evidence = [_ev("step", step), _ev("max_iters", max_iters),
                        Evidence("early_stop_fraction", t.early_stop_fraction, "", "threshold early_stop_fraction")]
            message = f"saved at step {step.value:,} of {max_iters.value:,} planned ({100 * fraction:.0f}%)"
            fix = f"Train to step {max_iters.value:,}: {resume}."
            best_only = c.hyperparameters.get("always_save_checkpoint")
            strength = strength_past(fraction, t.early_stop_fraction, t.early_stop_strong_fraction)
            if best_only is not None and best_only.value is False:
                # nanoGPT with always_save_checkpoint=False saves only when val improves: an early step is the
                # last improvement, which an overfitting run reaches early; the run may well have finished
                evidence.append(_ev("always_save_checkpoint", best_only))
                message += ("; the trainer saves only on a new best val loss, so this is the step of the best val "
                            "loss, not necessarily where the run stopped")
                fix = ("Check the run's log: if it reached its planned steps with val loss rising after step "
                       f"{step.value:,}, the run overfits (more data, not more steps); if it stopped, train to "
                       f"step {max_iters.value:,}.")
                strength = min(strength, 0.2)
            high = level is not None and level.high
            severity = (Severity.ERROR if high and strength >= 1.0 and not (best_only is not None
                                                                           and best_only.value is False)
                        else Severity.WARNING)
            out.append(EARLY_STOP.finding(message, evidence, severity=severity, strength=strength, fix=fix,
                                          subject=str(c.path)))
    val = c.training.val_loss
    if level is not None and level.high:
        small = LLAMA2C_MODELS[0]
        evidence = [_ev("val_loss", val, "nats/token")]
        if level.unit != "nats/token":
            bpt = c.bytes_per_token
            evidence.append(Evidence("val loss per " + ("character" if bpt.per_character else "byte"),
                                     round(level.value, 4), level.unit, bpt.source))
        evidence += [Evidence(level.threshold_name, level.threshold, level.unit, f"threshold {level.threshold_name}"),
                     Evidence(f"llama2.c {small.name} val loss", small.val_loss, "nats/token", LLAMA2C_SOURCE)]
        shown = f"{val.value:.3f} nats/token" + (f" ({level.value:.3g} {level.unit})" if level.unit != "nats/token"
                                                 else "")
        out.append(VAL_LOSS_HIGH.finding(
            f"val loss {shown} is above {level.threshold:g} {level.unit}", evidence,
            strength=0.4 * strength_past(level.value, level.threshold, 2 * level.threshold), subject=str(c.path)))
    if not c.training.has_optimizer_state and c.format not in ("hf-folder", "safetensors", "llama2c-bin") and (
            c.training.step is not None and not c.training.step.source.startswith("file name")):
        out.append(NO_OPTIMIZER.finding(
            f"the checkpoint records step {c.training.step.value:,} but no optimizer state: it cannot resume exactly",
            [_ev("step", c.training.step), Evidence("optimizer state", "absent", "", str(c.path.name))],
            subject=str(c.path)))
    return out


def hyperparameter_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    out = []
    h = c.hyperparameters
    lr = h.get("learning_rate")
    if lr is not None and lr.value > t.lr_max:
        strong = lr.value >= t.lr_high_strong_factor * t.lr_max
        out.append(LR_HIGH.finding(
            f"learning rate {lr.value:g} is above {t.lr_max:g}" + (f" ({lr.value / t.lr_max:.0f}x)" if strong else ""),
            [_ev("learning_rate", lr), Evidence("lr_max", t.lr_max, "", "threshold lr_max"),
             Evidence("lr_high_strong_factor", t.lr_high_strong_factor, "x lr_max", "threshold lr_high_strong_factor")],
            severity=Severity.ERROR if strong else Severity.WARNING,
            strength=strength_past(lr.value, t.lr_max, t.lr_high_strong_factor * t.lr_max), subject=str(c.path)))
    warmup = h.get("warmup_iters")
    if lr is not None and warmup is not None and warmup.value == 0 and lr.value >= t.warmup_needed_lr:
        out.append(NO_WARMUP.finding(
            f"no warmup with learning rate {lr.value:g}",
            [_ev("warmup_iters", warmup), _ev("learning_rate", lr),
             Evidence("warmup_needed_lr", t.warmup_needed_lr, "", "threshold warmup_needed_lr")],
            subject=str(c.path)))
    decay, max_iters = h.get("lr_decay_iters"), h.get("max_iters")
    decay_on = h.get("decay_lr")
    decays = not (decay_on is not None and decay_on.value is False)  # decay_lr=False: a constant lr, no schedule
    if decay is not None and max_iters is not None and decays:
        gap = abs(decay.value - max_iters.value) / max_iters.value
        if gap > t.decay_iters_tolerance:
            direction = ("the rest of the run trains at min_lr" if decay.value < max_iters.value
                         else "the learning rate never finishes decaying")
            out.append(DECAY_MISMATCH.finding(
                f"lr_decay_iters {decay.value:,} != max_iters {max_iters.value:,}: {direction}",
                [_ev("lr_decay_iters", decay), _ev("max_iters", max_iters),
                 Evidence("decay_iters_tolerance", t.decay_iters_tolerance, "", "threshold decay_iters_tolerance")],
                subject=str(c.path)))
    dropout = h.get("dropout")
    if dropout is not None and isinstance(dropout.value, (int, float)) and dropout.value > t.dropout_high:
        out.append(DROPOUT_HIGH.finding(
            f"dropout {dropout.value:g} is above {t.dropout_high:g}",
            [_ev("dropout", dropout), Evidence("dropout_high", t.dropout_high, "", "threshold dropout_high")],
            strength=strength_past(dropout.value, t.dropout_high, t.dropout_strong), subject=str(c.path)))
    min_lr = h.get("min_lr")
    if lr is not None and min_lr is not None and lr.value > 0 and decays:
        ratio = min_lr.value / lr.value
        if abs(ratio - t.min_lr_ratio) / t.min_lr_ratio > t.min_lr_ratio_tolerance:
            out.append(MIN_LR.finding(
                f"min_lr {min_lr.value:g} is {ratio:.3g}x the learning rate {lr.value:g} "
                f"(convention: {t.min_lr_ratio:g}x = {lr.value * t.min_lr_ratio:g})",
                [_ev("min_lr", min_lr), _ev("learning_rate", lr),
                 Evidence("min_lr_ratio", t.min_lr_ratio, "", "threshold min_lr_ratio")],
                fix=f"Set min_lr to {lr.value * t.min_lr_ratio:g}.", subject=str(c.path)))
    return out


def health_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    health = c.health
    if health is None:
        return []
    out = []
    if health.matrices_checked and health.share_init >= t.init_matrix_fraction:
        judged = [x for x in health.tensors if x.kind == "matrix" and x.verdict == "init"]
        ratios = [x.std_ratio for x in judged if x.std_ratio is not None]
        spectral = [x.spectral_ratio for x in judged if x.spectral_ratio is not None]
        evidence = [Evidence("matrices at init", health.matrices_init, f"of {health.matrices_checked}",
                             f"{c.path.name}: per-matrix statistics"),
                    Evidence("init_matrix_fraction", t.init_matrix_fraction, "", "threshold init_matrix_fraction")]
        if ratios:
            evidence.append(Evidence("std / init std", round(sum(ratios) / len(ratios), 3), "mean",
                                     f"init {judged[0].init}"))
        if spectral:
            evidence.append(Evidence("max spectral ratio", round(max(spectral), 3), "",
                                     "top singular value / iid noise edge"))
        if c.training.step is not None:
            evidence.append(_ev("recorded step", c.training.step))
        out.append(INIT_WEIGHTS.finding(
            f"{health.matrices_init} of {health.matrices_checked} weight matrices look like a fresh init",
            evidence, subject=str(c.path)))
    counted = [n for n in health.nonfinite if n.is_weight or _is_optimizer_moment(n.name)]
    if counted:
        worst = sorted(counted, key=lambda n: -(n.nan + n.inf))
        evidence = [Evidence(n.name, n.nan + n.inf, f"values ({n.nan} NaN, {n.inf} Inf)",
                             "weights" if n.is_weight else "optimizer/other state") for n in worst[:5]]
        weights = sum(n.is_weight for n in counted)
        out.append(NONFINITE.finding(
            f"{len(counted)} tensors hold NaN/Inf ({weights} of them model weights)", evidence,
            subject=str(c.path)))
    frozen = health.frozen_rows
    unseen_pieces = _pieces_that_never_occur(c)
    judged = unseen_pieces is not None or (c.architecture.vocab_size is not None
                                           and c.architecture.vocab_size.value > t.vocab_reference * t.vocab_large_factor)
    excess = (frozen.count - (unseen_pieces or 0)) / frozen.rows_checked if frozen and frozen.rows_checked else 0.0
    if frozen is not None and frozen.count and judged and excess > t.frozen_row_fraction:
        how = ("their AdamW second moment is exactly zero" if frozen.method == "optimizer"
               else "they are still i.i.d. init noise (statistical estimate)")
        evidence = [Evidence("rows never moved", frozen.count, f"of {frozen.rows_checked}", frozen.source),
                    Evidence("share", round(100 * frozen.share, 1), "%", f"threshold frozen_row_fraction "
                                                                        f"{t.frozen_row_fraction}")]
        if frozen.cluster_std is not None:
            evidence.append(Evidence("std of those rows", round(frozen.cluster_std, 5), "",
                                     f"init std {frozen.init_std:g}" if frozen.init_std else "init std unknown"))
        if frozen.first_ids:
            evidence.append(Evidence("first token ids", ", ".join(map(str, frozen.first_ids[:8])), "",
                                     "embedding row numbers"))
        out.append(FROZEN_ROWS.finding(
            f"{frozen.count:,} of {frozen.rows_checked:,} embedding rows ({100 * frozen.share:.0f}%) never moved: "
            f"{how}", evidence, subject=str(c.path)))
    return out


_OPTIMIZER_MOMENTS = ("exp_avg", "exp_avg_sq", "momentum_buffer", "max_exp_avg_sq", "square_avg", "sum")


def _is_optimizer_moment(name: str) -> bool:
    """An optimizer moment (AdamW exp_avg/exp_avg_sq, SGD momentum): a callback's ``kth_value = inf`` is not."""
    import re

    return re.split(r"[.\s:\[\]'\"]+", name.strip(" .:[]'\""))[-1] in _OPTIMIZER_MOMENTS


def _pieces_that_never_occur(c: CheckpointInspection) -> int | None:
    """Byte-fallback and special pieces of the known tokenizer: rows that stay at init in any clean run."""
    tok = c.tokenizer
    if tok is None:
        return None
    return len(set(tok.byte_ids()) | set(tok.special_ids()))


def sibling_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    out = []
    step, val = c.training.step, c.training.val_loss
    newest = _later_sibling(c)
    if newest is not None:
        better = isinstance(newest.val_loss, (int, float)) and val is not None and isinstance(val.value, (int, float)) \
            and newest.val_loss < val.value - t.stale_val_loss_margin
        decisive = better or newest.step >= 2 * step.value
        evidence = [_ev("this step", step), Evidence(f"{newest.path.name} step", newest.step, "", newest.step_source)]
        if better:
            evidence.append(Evidence(f"{newest.path.name} val loss", newest.val_loss, "nats/token",
                                     newest.val_loss_source))
        out.append(NOT_LATEST.finding(
            f"{newest.path.name} is at step {newest.step:,}, later than this checkpoint's {step.value:,}"
            + (f", with a lower val loss ({newest.val_loss:.4g})" if better else ""), evidence,
            severity=Severity.ERROR if decisive else Severity.WARNING,
            fix=f"Use {newest.path} (step {newest.step:,}) unless you need this earlier state.", subject=str(c.path)))
    if val is not None and isinstance(val.value, (int, float)):
        better = [s for s in c.siblings if isinstance(s.val_loss, (int, float))
                  and s.val_loss < val.value - t.stale_val_loss_margin]
        if better:
            best = min(better, key=lambda s: s.val_loss)
            out.append(NOT_BEST.finding(
                f"{best.path.name} has val loss {best.val_loss:.4g}, lower than this checkpoint's {val.value:.4g}",
                [_ev("this val loss", val, "nats/token"),
                 Evidence(f"{best.path.name} val loss", best.val_loss, "nats/token", best.val_loss_source),
                 Evidence("stale_val_loss_margin", t.stale_val_loss_margin, "nats/token",
                          "threshold stale_val_loss_margin")],
                fix=f"Use {best.path} (val loss {best.val_loss:.4g}).", subject=str(c.path)))
    best_path = c.training.best_checkpoint
    if (not out and val is not None and best_path is not None and c.training.best_val_loss is not None
            and c.path.name not in str(best_path.value)
            and c.training.best_val_loss.value < val.value - t.stale_val_loss_margin):
        out.append(NOT_BEST.finding(
            f"the trainer recorded a better checkpoint, {best_path.value}, with "
            f"{c.training.best_val_loss.value:.4g} against this one's {val.value:.4g}",
            [_ev("this val loss", val, "nats/token"), _ev("best recorded", c.training.best_val_loss, "nats/token"),
             _ev("best checkpoint", best_path)],
            fix=f"Use {best_path.value}.", subject=str(c.path)))
    return out


def tokenizer_fits(c: CheckpointInspection, t: Thresholds) -> bool:
    """Whether the tokenizer given can be this model's: no more pieces than rows, padding at most vocab_padding_max."""
    rows = c.architecture.vocab_size
    if c.tokenizer is None or rows is None:
        return True
    pieces = c.tokenizer.vocab_size
    return pieces <= rows.value <= pieces + t.vocab_padding_max


def tokenizer_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    if tokenizer_fits(c, t):
        return []
    rows, pieces = c.architecture.vocab_size, c.tokenizer.vocab_size
    return [TOKENIZER_VOCAB.finding(
        f"{c.tokenizer.path.name} has {pieces:,} pieces, the checkpoint's embedding {rows.value:,} rows: not the "
        f"tokenizer this model was trained with (bits per byte are not computed with it)",
        [_ev("embedding rows", rows, "tokens"),
         Evidence("tokenizer pieces", pieces, "tokens", str(c.tokenizer.path)),
         Evidence("vocab_padding_max", t.vocab_padding_max, "tokens", "threshold vocab_padding_max")],
        subject=str(c.path))]


def objective_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    """TSD-W-WEIGHTED-OBJECTIVE from a recorded article_weight above 1."""
    weight = c.hyperparameters.get("article_weight")
    if weight is None or not isinstance(weight.value, (int, float)) or weight.value <= 1:
        return []
    if article_id_findings(c, t):
        return []  # the weighted ids are not articles: TSD-RUN-ARTICLE-IDS says so, nothing here is about W
    evidence = [_ev("article_weight", weight)]
    if c.article_ids is not None:
        evidence.append(Evidence("weighted ids", c.article_ids.value, "", c.article_ids.source))
    unchecked = "" if c.tokenizer is not None or c.article_ids is None else (
        "; whether the weighted ids are articles is not checked without --tokenizer")
    return [WEIGHTED_OBJECTIVE.finding(
        f"targets weighted {format_value(weight.value)}x in the loss ({weight.source}); whether that harms "
        f"is measured only by a matched standard run{unchecked}", evidence, subject=str(c.path))]


def article_id_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    """Weighted ids (given or recorded) that are not articles in the tokenizer given."""
    if c.article_ids is None or c.tokenizer is None:
        return []
    from tsdiag.train_rules import weighted_id_findings

    if not tokenizer_fits(c, t):
        return []  # ids decoded with another model's tokenizer mean nothing
    return weighted_id_findings(c.article_ids.value, c.article_ids.source, c.tokenizer)


def optimizer_reset_findings(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    """The run's recorded step against AdamW's own step count (equal in every trainer resumed correctly)."""
    step, optimizer = c.training.step, c.training.optimizer
    opt_step = optimizer.step if optimizer is not None else None
    if step is None or opt_step is None or step.origin != RECORDED or opt_step.origin != RECORDED:
        return []
    run, own = float(step.value), float(opt_step.value)
    if own <= 0 or run - own < t.optimizer_reset_min_steps:
        return []
    accumulation = c.hyperparameters.get("gradient_accumulation_steps")
    if accumulation is not None and accumulation.value > 1 and run == own * accumulation.value:
        return []   # a step counter of micro-batches (gradient accumulation), not a reset
    lost = run - own
    return [OPTIMIZER_RESET.finding(
        f"the optimizer has taken {own:,.0f} steps but the run is at step {run:,.0f}: its state restarted at "
        f"about step {lost:,.0f}",
        [_ev("run step", step), _ev("optimizer step", opt_step),
         Evidence("steps without optimizer history", lost, "steps", "run step - optimizer step"),
         Evidence("threshold optimizer_reset_min_steps", t.optimizer_reset_min_steps, "steps", "thresholds")],
        strength=strength_past(lost / run, 0.05, 0.5), subject=str(c.path))]


def evaluate(c: CheckpointInspection, t: Thresholds) -> list[Finding]:
    """Every finding about one checkpoint."""
    return (vocab_findings(c, t) + training_findings(c, t) + hyperparameter_findings(c, t) + optimizer_reset_findings(c, t)
            + health_findings(c, t) + sibling_findings(c, t) + objective_findings(c, t) + article_id_findings(c, t)
            + tokenizer_findings(c, t))
