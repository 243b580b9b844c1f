"""The checkpoint check (``tsdiag inspect``): what the file is, how trained it is, what it says of each hypothesis."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tsdiag.checks.interface import CheckResult, sourced_evidence
from tsdiag.findings import Evidence
from tsdiag.thresholds import Thresholds

NAME = "checkpoint"
# trainers whose own code trains only with plain cross-entropy: their checkpoints rule W out
STANDARD_ONLY_TRAINERS = ("llama2.c", "nanoGPT")
COMMAND = "inspect"


def run(path: Path, *, thresholds: Thresholds, config: Path | None = None, tokenizer=None,
        bytes_per_token=None, allow_unsafe_pickle: bool = False, sibling_folder: Path | None = None,
        health: bool = True, full_scan: bool = False, article_ids: list[int] | None = None,
        progress: Callable[[int, int], None] | None = None, where: str = "") -> CheckResult:
    """Inspect ``path`` and record its measurements (``where`` prefixes evidence sources, see sourced_evidence)."""
    from tsdiag.checkpoint.inspection import inspect_checkpoint

    inspection = inspect_checkpoint(path, config=config, thresholds=thresholds,
                                    allow_unsafe_pickle=allow_unsafe_pickle, health=health, full_scan=full_scan,
                                    sibling_folder=sibling_folder, progress=progress, tokenizer=tokenizer,
                                    bytes_per_token=bytes_per_token, article_ids=article_ids)
    return measured(inspection, thresholds, where)


def measured(inspection, t: Thresholds, where: str = "") -> CheckResult:
    """The check result of an inspection already made."""
    name = f"{where}/{inspection.path.name}" if where else inspection.path.name
    check = CheckResult(NAME, str(inspection.path), inspection, list(inspection.findings))
    training, hyper, arch = inspection.training, inspection.hyperparameters, inspection.architecture
    val = training.val_loss or training.best_val_loss
    step, max_iters = training.step, hyper.get("max_iters")
    val_evidence = []
    if val is not None:
        val_evidence = [sourced_evidence("val loss", val, "nats/token", where)]
        if inspection.val_bits_per_byte is not None:
            bpt = inspection.bytes_per_token
            val_evidence.append(Evidence(f"val loss per {'character' if bpt.per_character else 'byte'}",
                                         inspection.val_bits_per_byte, bpt.unit, bpt.source))
    # H2 is ruled out only by a finished run at a low loss: the step alone cannot tell a run that never learned
    if step is not None and max_iters is not None:
        evidence = [sourced_evidence("step", step, where=where), sourced_evidence("max_iters", max_iters, where=where)]
        check.measure("H2", *evidence, *val_evidence, conclusive=bool(val_evidence),
                      missing="" if val_evidence else "a val loss (--log with val losses)")
    elif val_evidence:
        check.measure("H2", *val_evidence, conclusive=False, missing="the planned steps (--config or --log)")
    lr = hyper.get("learning_rate")
    if lr is not None:
        check.measure("H3", *[sourced_evidence(key, hyper[key], where=where)
                              for key in ("learning_rate", "min_lr", "lr_decay_iters", "warmup_iters", "dropout")
                              if key in hyper],
                      conclusive="warmup_iters" in hyper,
                      missing="" if "warmup_iters" in hyper else "the warmup setting (--config or --log with the lr)")
    if arch.vocab_size is not None:
        check.measure("H4", sourced_evidence("vocab_size", arch.vocab_size, "tokens", where))
    if inspection.trainer in STANDARD_ONLY_TRAINERS and "article_weight" not in hyper:
        check.measure("W", Evidence("objective", "standard cross-entropy", "",
                                    f"{name}: written by {inspection.trainer}'s train.py, which has no other loss"))
    health = inspection.health
    if health is not None and health.matrices_checked:
        at_init = Evidence("weight matrices at init", health.matrices_init, f"of {health.matrices_checked}",
                           f"{name}: weight statistics")
        # weights partly at init are what an early checkpoint looks like: they cannot rule out the wrong file
        mostly_trained = health.share_init <= t.rule_out_init_share
        siblings = Evidence("other checkpoints of this model in the folder", len(inspection.siblings), "",
                            str(inspection.path.parent))
        check.measure("H5", at_init, siblings, conclusive=mostly_trained,
                      missing="" if mostly_trained else "a later checkpoint of the run or its --log")
    return check
