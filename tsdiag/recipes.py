"""Training recipes as data: the canonical llama2.c recipe and its article-weighted twin.

A :class:`TrainConfig` is every knob of a reference run, named as llama2.c's
``train.py`` names them so that the ``config`` saved in ``ckpt.pt`` reads like
one of llama2.c's.  A recipe is only a set of values for some of those knobs;
the precedence is

    recipe defaults  <  values copied from a suspect run (``--from``)  <  explicit options

and :func:`make_config` records, for every value that did not come from the
recipe, where it came from.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tsdiag.errors import InputError


@dataclass
class TrainConfig:
    # --- objective
    recipe: str = "standard"
    objective: str = "standard"          # "standard" or "weighted"
    article_weight: float = 1.0
    normalize: str = "weights"           # "weights": Σw·ce/Σw, "tokens": Σw·ce/N (see tsdiag.loss)
    article_ids: list[int] | None = None  # None: every id whose piece is an article word (from the tokenizer)
    # --- architecture (llama2.c names; arch="nanogpt" maps them onto GPT-2's)
    arch: str = "llama2c"
    dim: int = 288
    n_layers: int = 6
    n_heads: int = 6
    n_kv_heads: int | None = None
    vocab_size: int | None = None        # None: the tokenizer's size, else the largest id in the data + 1
    hidden_dim: int | None = None
    multiple_of: int = 32
    max_seq_len: int = 256
    dropout: float = 0.0
    bias: bool = False                   # nanoGPT only
    tie_embeddings: bool = True          # llama2c: output layer shares the embedding matrix (nanoGPT always does)
    # --- optimizer and schedule (llama2.c's defaults)
    learning_rate: float = 5e-4
    min_lr: float | None = None          # None: learning_rate / 10
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.1            # on matrices and embeddings only
    grad_clip: float = 1.0
    decay_lr: bool = True
    warmup_iters: int | None = None      # None: 5% of max_iters, at most 1000
    lr_decay_iters: int | None = None    # None: max_iters
    # --- length and batches
    max_iters: int | None = 2000         # None with time_budget: estimated from the first steps
    time_budget: float | None = None     # seconds of training
    batch_size: int = 128
    gradient_accumulation_steps: int = 4
    eval_interval: int = 200
    eval_iters: int = 20
    log_interval: int = 10
    val_fraction: float = 0.1
    # --- execution
    seed: int = 1337
    device: str = "auto"
    compile: str = "regional"            # "regional" (each block), "full", or "none"
    merge_micro_batches: bool = True     # run a step's micro-batches as one forward pass when memory allows
    residual_dtype: str = "float32"      # the residual stream under bf16 autocast: float32 (llama2.c's) or bfloat16
    provenance: dict[str, str] = field(default_factory=dict)  # key -> where a non-recipe value came from

    def resolved_min_lr(self) -> float:
        return self.learning_rate / 10 if self.min_lr is None else self.min_lr

    def resolved_warmup(self, max_iters: int) -> int:
        if self.warmup_iters is not None:
            return self.warmup_iters
        return max(1, min(1000, round(0.05 * max_iters)))

    def tokens_per_step(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps * self.max_seq_len

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values.pop("provenance")
        return values

    def resolved_dict(self, max_iters: int) -> dict[str, Any]:
        """:meth:`to_dict` with the schedule written out (no ``None`` meaning "default").

        This is what ckpt.pt's ``config`` holds: other tools (and ``tsdiag
        inspect``) cannot know tsdiag's defaults, and would otherwise assume
        llama2.c's (min_lr 0, warmup 1000).
        """
        return {**self.to_dict(), "max_iters": max_iters, "min_lr": self.resolved_min_lr(),
                "warmup_iters": self.resolved_warmup(max_iters), "lr_decay_iters": self.lr_decay_iters or max_iters}


def learning_rate_at(step: int, config: TrainConfig, max_iters: int) -> float:
    """llama2.c's schedule: linear warmup, cosine decay to min_lr at lr_decay_iters, then flat.

    The warmup starts at lr/(warmup+1) rather than 0, as nanoGPT's current
    train.py does, so that step 0 is not wasted.
    """
    if not config.decay_lr:
        return config.learning_rate
    warmup = config.resolved_warmup(max_iters)
    decay_iters = config.lr_decay_iters or max_iters
    min_lr = config.resolved_min_lr()
    if step < warmup:
        return config.learning_rate * (step + 1) / (warmup + 1)
    if step > decay_iters:
        return min_lr
    progress = (step - warmup) / max(1, decay_iters - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * (config.learning_rate - min_lr)


RESIDUAL_DTYPES = ("float32", "bfloat16")

# The recipes: values on top of TrainConfig's defaults.
RECIPES: dict[str, dict[str, Any]] = {
    "standard": {"recipe": "standard", "objective": "standard", "article_weight": 1.0},
    "weighted": {"recipe": "weighted", "objective": "weighted", "article_weight": 5.0, "normalize": "weights"},
}
# Keys a suspect run may not override: they define the recipe.
_RECIPE_KEYS = {"recipe", "objective"}
# Settings of the weighted objective alone: a standard run records weight 1 whatever --both passes.
WEIGHTED_ONLY = frozenset({"article_weight", "normalize"})
# TrainConfig fields whose command-line option has another name
_FLAGS = {"gradient_accumulation_steps": "--grad-accum", "max_seq_len": "--seq-len", "learning_rate": "--lr",
          "eval_interval": "--eval-every", "compile": "--compile-mode", "merge_micro_batches": "--no-merge"}


def option_flag(key: str) -> str:
    """The command-line option that sets TrainConfig field ``key``."""
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


def make_config(
    recipe: str,
    suspect: Mapping[str, tuple[Any, str]] | None = None,
    options: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The config of ``recipe`` with a suspect run's values and explicit options on top.

    ``suspect`` maps config keys to (value, source) as :func:`read_suspect`
    returns them; ``options`` holds explicit overrides (``None`` values are
    ignored).  The article weight of a suspect run is taken only by the
    weighted recipe: the standard recipe's objective is the point of it.
    """
    if recipe not in RECIPES:
        raise InputError(recipe, f"unknown recipe (choose from {', '.join(RECIPES)})")
    config = TrainConfig(**RECIPES[recipe])
    known = {f.name for f in dataclasses.fields(TrainConfig)} - {"provenance"}
    for key, (value, source) in (suspect or {}).items():
        if key in _RECIPE_KEYS or (key == "article_weight" and config.objective == "standard"):
            continue
        setattr(config, key, value)
        config.provenance[key] = source
    for key, value in (options or {}).items():
        if value is None or (key in WEIGHTED_ONLY and config.objective == "standard"):
            continue  # (--both shares its options: the weighted recipe's settings are not the standard one's)
        if key not in known:
            raise InputError(option_flag(key), "not a training option")
        setattr(config, key, value)
        config.provenance[key] = "command line"
    if (options or {}).get("time_budget") is not None and (options or {}).get("max_iters") is None:
        config.max_iters = None  # a budget without --max-iters: the loop estimates the steps that fit
        config.provenance["max_iters"] = "estimated from --time-budget"
    _fit_schedule(config, suspect or {})
    hidden = (suspect or {}).get("hidden_dim")
    if hidden is not None and (options or {}).get("dim") is not None and (options or {}).get("hidden_dim") is None:
        config.hidden_dim = None  # the suspect's feed-forward width belongs to its own dim: derive it from --dim
        config.provenance["hidden_dim"] = f"default for --dim {config.dim} ({hidden[1]} is {hidden[0]:,}, for its own dim)"
    validate(config)
    return config


def _fit_schedule(config: TrainConfig, suspect: Mapping[str, tuple[Any, str]]) -> None:
    """Scale a suspect's warmup and decay lengths to this run's length.

    A short reference run of a 100,000-step recipe that kept ``lr_decay_iters`` 100,000 would
    spend every step in warmup at a tiny lr.  The schedule's shape is what a reproduction keeps:
    each length becomes the same fraction of this run (a decay twice the run stays twice).
    Without a known run length (``--time-budget``) the copied lengths are dropped for the defaults.
    """
    suspect_steps = suspect.get("max_iters", (None, ""))[0]
    copied = [k for k in ("lr_decay_iters", "warmup_iters")
              if k in suspect and config.provenance.get(k) == suspect[k][1]]
    if not copied or suspect_steps == config.max_iters:
        return
    for key in copied:
        value, source = suspect[key]
        if config.max_iters is None or not suspect_steps:
            setattr(config, key, None)
            config.provenance[key] = f"default: {source} ({value:,}) not copied, the run length is not known yet"
            continue
        scaled = max(1 if key == "lr_decay_iters" else 0, round(value * config.max_iters / suspect_steps))
        setattr(config, key, scaled)
        config.provenance[key] = (f"{source} ({value:,} of {suspect_steps:,} steps), scaled to this run's "
                                  f"{config.max_iters:,} steps")


def validate(config: TrainConfig) -> None:
    """Refuse settings that cannot train, with the option to change."""
    checks = [
        (config.objective in ("standard", "weighted"), "objective", "must be standard or weighted"),
        (config.normalize in ("weights", "tokens"), "--normalize", "must be weights or tokens"),
        (config.arch in ("llama2c", "nanogpt"), "--arch", "must be llama2c or nanogpt"),
        (config.compile in ("regional", "full", "none"), "--compile-mode", "must be regional or full"),
        (config.residual_dtype in RESIDUAL_DTYPES, "--residual-dtype", f"must be {' or '.join(RESIDUAL_DTYPES)}"),
        (config.article_weight >= 0 and math.isfinite(config.article_weight), "--article-weight",
         "must be a finite number >= 0"),
        (config.max_iters is not None or config.time_budget is not None, "--max-iters",
         "give --max-iters or --time-budget"),
        (config.max_iters is None or config.max_iters > 0, "--max-iters", "must be positive"),
        (config.time_budget is None or config.time_budget > 0, "--time-budget", "must be positive"),
        (config.batch_size > 0 and config.gradient_accumulation_steps > 0, "--batch-size",
         "batch size and gradient accumulation must be positive"),
        (config.max_seq_len > 1, "--seq-len", "must be at least 2"),
        (config.learning_rate > 0, "--lr", "must be positive"),
        (config.eval_interval > 0 and config.eval_iters > 0, "--eval-every", "must be positive"),
        (0 < config.val_fraction < 1, "val_fraction", "must be between 0 and 1"),
        (config.dim % config.n_heads == 0, "--dim", f"{config.dim} must divide by --n-heads {config.n_heads}"),
        (config.n_kv_heads is None or config.n_heads % config.n_kv_heads == 0, "--n-kv-heads",
         "must divide --n-heads"),
    ]
    for ok, option, problem in checks:
        if not ok:
            raise InputError(option, problem)


# --------------------------------------------------------------------------- suspect runs
# Reading a suspect run is tsdiag inspect's job: its synonym tables know how
# every trainer spells each setting (tsdiag.checkpoint.meaning).  Here those
# canonical names are only mapped onto TrainConfig fields.

_HYPERPARAMETER_FIELDS = ("learning_rate", "min_lr", "max_iters", "lr_decay_iters", "warmup_iters", "batch_size",
                          "gradient_accumulation_steps", "weight_decay", "dropout", "grad_clip", "decay_lr")
_ARCH_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "hidden_dim", "max_seq_len")
_FAMILY_TO_ARCH = {"llama2.c": "llama2c", "hf-llama": "llama2c", "nanogpt": "nanogpt", "hf-gpt2": "nanogpt"}
# The one setting no trainer but the suspect's own has: how much article targets weigh.
_ARTICLE_WEIGHT_KEYS = ("article_weight", "article_loss_weight", "article_weight_multiplier", "article_multiplier")
_NANOGPT_KEYS = ("n_layer", "n_embd", "n_head", "block_size")


def read_suspect(path: str | Path) -> dict[str, tuple[Any, str]]:
    """Architecture and hyperparameters of a suspect run: TrainConfig key -> (value, where it came from).

    A ``.yaml``/``.yml``/``.json`` file is read as a training config; anything
    else as a checkpoint, through ``tsdiag inspect``'s facts (which include
    values a trainer fixes in code, marked "inferred").
    """
    from tsdiag.checkpoint.meaning import leaves

    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml", ".json"):
        from tsdiag.checkpoint.inspection import load_config
        from tsdiag.checkpoint.meaning import Interpreter

        document = load_config(path)
        interpreter = Interpreter([], document)
        architecture, hyper, documents = interpreter.recorded_architecture(), \
            interpreter.hyperparameters(None, None, None), [document]
        family = "nanogpt" if any(leaf.key in _NANOGPT_KEYS for leaf in leaves(document)) else None
    else:
        from tsdiag.checkpoint import inspect_checkpoint
        from tsdiag.checkpoint.formats import read_checkpoint

        facts = inspect_checkpoint(path, health=False, siblings=False)
        architecture = {name: getattr(facts.architecture, name) for name in (*_ARCH_FIELDS, "tied_output")
                        if getattr(facts.architecture, name) is not None}
        hyper, documents, family = facts.hyperparameters, read_checkpoint(path).documents, facts.architecture.family

    found: dict[str, tuple[Any, str]] = {}
    if family in _FAMILY_TO_ARCH:
        found["arch"] = (_FAMILY_TO_ARCH[family], f"{path.name}: {family} names")
    for name in _ARCH_FIELDS:
        if name in architecture:
            found[name] = (int(architecture[name].value), architecture[name].source)
    if "tied_output" in architecture:
        found["tie_embeddings"] = (bool(architecture["tied_output"].value), architecture["tied_output"].source)
    for name in _HYPERPARAMETER_FIELDS:
        if name in hyper:
            value = hyper[name].value
            found[name] = (value if isinstance(value, bool) else _number(name, value), hyper[name].source)
    if "betas" in hyper:
        beta1, beta2 = hyper["betas"].value
        found["beta1"] = (float(beta1), hyper["betas"].source)
        found["beta2"] = (float(beta2), hyper["betas"].source)
    for leaf in (leaf for doc in documents for leaf in leaves(doc)):
        if leaf.key in _ARTICLE_WEIGHT_KEYS and isinstance(leaf.value, (int, float)):
            found.setdefault("article_weight", (float(leaf.value), leaf.source))
    return found


def _number(name: str, value: Any) -> int | float:
    integer_fields = ("max_iters", "lr_decay_iters", "warmup_iters", "batch_size", "gradient_accumulation_steps")
    return int(value) if name in integer_fields else float(value)
