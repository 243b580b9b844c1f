"""One or more recipes on the same data, seed and budget: what ``tsdiag retrain`` runs.

``run_recipes(["standard", "weighted"], …)`` is the matched pair: both runs
start from the same initial weights (same seed, same architecture), see the
same batches in the same order and are evaluated on the same held-out
windows, so the objective is the only difference between them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tsdiag.errors import InputError
from tsdiag.findings import Finding
from tsdiag.recipes import WEIGHTED_ONLY, TrainConfig, make_config, option_flag, validate
from tsdiag.train import runfolder
from tsdiag.train.data import sources_label, split_tokens
from tsdiag.train.loop import ArticleSetup, RunResult, retrain
from tsdiag.train.runtime import setup_runtime, shutdown
from tsdiag.train.setup import PreparedData, article_setup, article_token_share, resolve_vocab_size

# Options that may change when a run is resumed; everything else is fixed by the saved run.
RESUMABLE_OPTIONS = {"max_iters", "time_budget", "eval_interval", "eval_iters", "log_interval", "device", "compile",
                     "merge_micro_batches"}


@dataclass
class RecipeOutcome:
    config: TrainConfig
    article: ArticleSetup
    findings: list[Finding]
    result: RunResult


def _finished(run: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    """A completed run that this resume asks nothing more of (no longer --max-iters)."""
    wanted = options.get("max_iters")
    return run.get("status") == "completed" and (wanted is None or wanted <= run.get("step", 0))


def _finished_outcome(out_dir: Path, config: TrainConfig, run: Mapping[str, Any]) -> RecipeOutcome:
    """The record of a run already completed, reported beside the one this resume trains."""
    article = ArticleSetup(ids=run.get("article_ids", []), pieces=run.get("article_pieces", []),
                           source=run.get("article_ids_source", ""))
    return RecipeOutcome(config=config, article=article, findings=[], result=RunResult(out_dir, "completed", dict(run)))


def resume_config(out_dir: Path, options: Mapping[str, Any], run: Mapping[str, Any] | None = None) -> TrainConfig:
    """The saved run's config (``run``: its run.json, when already read), with only the options a
    resumed run may change."""
    run = runfolder.read_run(out_dir) if run is None else run
    saved = run["config"]
    if saved.get("objective") == "standard":  # --both passes the weighted run's settings too: not this run's
        options = {k: v for k, v in options.items() if k not in WEIGHTED_ONLY}
    # the values the run used: a default left null in the config counts as what it resolved to
    used = {**saved, **{k: v for k, v in run.get("schedule", {}).items() if saved.get(k) is None}}
    if used.get("n_kv_heads") is None:
        used["n_kv_heads"] = used.get("n_heads")
    fixed = sorted(k for k, v in options.items()
                   if v is not None and k not in RESUMABLE_OPTIONS and used.get(k, v) != v)  # same value: fine
    if fixed:
        names = ", ".join(option_flag(k) for k in fixed)
        raise InputError(out_dir, f"{names} cannot change when resuming; start a new run in another --out")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in run["config"].items() if k in known})
    config.provenance = dict(run.get("provenance", {}))
    for key, value in options.items():
        if value is not None:
            setattr(config, key, value)
            config.provenance[key] = "command line (resume)"
    validate(config)
    return config


def run_recipes(
    recipes: Sequence[str],
    data: PreparedData,
    out: Path,
    *,
    suspect: Mapping[str, tuple[Any, str]] | None = None,
    options: Mapping[str, Any] | None = None,
    resume: bool = False,
    reporter_for: Callable[[str], Any] | None = None,
) -> list[RecipeOutcome]:
    """Train each recipe into ``out/<recipe>/`` and return what happened."""
    from tsdiag.train_rules import article_id_findings

    options = dict(options or {})
    explicit_ids = options.pop("article_ids", None)
    # every recipe is checked before the first one trains: --both must not spend a whole standard run
    # and then refuse the weighted one
    plans, done = [], []
    for recipe in recipes:
        out_dir = Path(out) / recipe
        # --resume of a pair stopped before its second recipe started: that one starts fresh
        recipe_resume = resume and (out_dir / runfolder.RUN_FILE).is_file()
        if recipe_resume:
            run = runfolder.read_run(out_dir)
            config = resume_config(out_dir, options, run)  # (refuses changed options, finished run or not)
            if len(recipes) > 1 and _finished(run, options):
                # the pair stopped in its second run: the first one needs nothing more
                done.append(_finished_outcome(out_dir, config, run))
                continue
        else:
            if (out_dir / runfolder.CHECKPOINT_FILE).exists():
                raise InputError(out_dir, "holds a run already: pass --resume to continue it, or another --out")
            config = make_config(recipe, suspect, {**options, "article_ids": explicit_ids})
        label = sources_label(data.info.get("sources", []))
        split = split_tokens(data.tokens, config.val_fraction, config.max_seq_len, label)
        config.vocab_size = resolve_vocab_size(config.vocab_size, data.tokenizer, split.max_id)
        article = article_setup(data.tokenizer, config.article_ids, config.vocab_size, data.article_choice)
        if config.objective == "weighted" and not article.ids:
            raise InputError("--article-ids", "the weighted objective needs article ids: pass --tokenizer (its "
                                              "article pieces are used) or --article-ids")
        plans.append((recipe, out_dir, config, split, article, recipe_resume))
    if resume and not done and not any(plan[-1] for plan in plans):
        raise InputError(Path(out) / recipes[0], f"no {runfolder.RUN_FILE} here: nothing to resume")
    outcomes: list[RecipeOutcome] = list(done)
    runtime = None
    for recipe, out_dir, config, split, article, recipe_resume in plans:
        explicit = article.ids if article.source == "--article-ids" else None
        findings = article_id_findings(explicit, article.pieces, article.tokenizer_ids, data.info.get("tokenizer"))
        info = {**data.info, "article_token_share": article_token_share(split.train, article.ids)}
        runtime = runtime or setup_runtime(config.device)
        created = [p for p in (Path(out_dir), *Path(out_dir).parents) if not p.exists()]
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        reporter = reporter_for(recipe) if reporter_for is not None else None
        try:
            result = retrain(config, split, out_dir, article=article, data_info=info, resume=recipe_resume,
                             reporter=reporter, runtime=runtime)
        except InputError:
            for folder in created:  # refused before anything was written: leave no empty folders behind
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise
        outcomes.append(RecipeOutcome(config=config, article=article, findings=findings, result=result))
        if result.status == "interrupted":
            break  # Ctrl-C: the user asked to stop, so the next recipe does not start
    if runtime is not None:
        shutdown(runtime)
    return outcomes
