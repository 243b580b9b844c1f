"""What the recorded values mean: training state and hyperparameters, by meaning.

Every trainer spells things its own way (``iter_num``, ``global_step``,
``step``; ``best_val_loss``, ``eval_loss``, ``metrics.val_loss``; ``lr`` in a
``config.optimizer`` section).  This module walks every document a reader
found (the checkpoint dict, ``config.json``, ``trainer_state.json``,
``optimizer.pt``, the user's ``--config``), matches keys against synonym lists
and records for each value the key path it came from.  Optimizer and scheduler
states are recognised by structure, not by key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from tsdiag.checkpoint import defaults
from tsdiag.checkpoint.facts import (CONFIG, DERIVED, INFERRED, RECORDED, OptimizerState, SchedulerState, Sourced,
                                     TrainingState)
from tsdiag.checkpoint.interface import Document
from tsdiag.checkpoint.tensors import TensorRef

# Sections that hold settings, not measurements.
CONFIG_SECTIONS = {"config", "args", "hparams", "hyper_parameters", "hyperparameters", "cfg", "opt", "opts",
                   "options", "settings", "train_config", "training_config", "training_args", "model_args",
                   "model_config", "run_config"}
# Subtrees that are neither settings nor the checkpoint's own state.
SKIP_SECTIONS = {"log_history", "callbacks", "loops", "rng_state", "rng_states", "lr_schedulers",
                 "optimizer_states"}
PLACEHOLDER_LOSS = 1e8   # llama2.c/nanoGPT start best_val_loss at 1e9 before the first evaluation


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _rate(v: Any) -> bool:
    return _num(v) and 0 < v < 1


def _rate0(v: Any) -> bool:
    return _num(v) and 0 <= v < 1


def _count(v: Any) -> bool:
    return _num(v) and v >= 0 and float(v).is_integer()


def _positive_count(v: Any) -> bool:
    return _count(v) and v > 0


def _loss(v: Any) -> bool:
    return _num(v) and (math.isnan(v) or v >= 0)


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _betas(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_rate(b) for b in v)


def _flag(v: Any) -> bool:
    return isinstance(v, bool)


# canonical name -> (synonyms, most specific first; accepts value?)
HYPERPARAMETERS: dict[str, tuple[tuple[str, ...], Callable[[Any], bool]]] = {
    "learning_rate": (("learning_rate", "max_lr", "peak_lr", "lr", "base_lr", "init_lr"), _rate),
    "min_lr": (("min_lr", "lr_min", "min_learning_rate", "minimum_lr", "final_lr", "end_lr", "eta_min"), _rate0),
    "max_iters": (("max_iters", "max_steps", "max_iter", "total_steps", "num_train_steps", "num_training_steps",
                   "total_training_steps", "train_steps", "total_iters", "num_steps", "n_steps",
                   "num_iterations", "max_step"), _positive_count),
    "lr_decay_iters": (("lr_decay_iters", "lr_decay_steps", "decay_steps", "decay_iters", "lr_decay_iter",
                        "cosine_steps", "t_max"), _positive_count),
    "warmup_iters": (("warmup_iters", "warmup_steps", "num_warmup_steps", "lr_warmup_steps", "warmup_iter",
                      "warmup"), _count),
    "warmup_ratio": (("warmup_ratio", "warmup_fraction", "warmup_frac"), _rate0),
    "batch_size": (("batch_size", "per_device_train_batch_size", "train_batch_size", "micro_batch_size",
                    "batch"), _positive_count),
    "gradient_accumulation_steps": (("gradient_accumulation_steps", "grad_accum_steps", "grad_accum",
                                     "accumulate_grad_batches", "accumulation_steps",
                                     "gradient_accumulation"), _positive_count),
    "weight_decay": (("weight_decay", "wd"), _rate0),
    "betas": (("betas",), _betas),
    "dropout": (("dropout", "dropout_rate", "resid_pdrop", "hidden_dropout", "p_dropout"), _rate0),
    "grad_clip": (("grad_clip", "max_grad_norm", "gradient_clip_val", "clip_grad_norm", "grad_norm_clip"), _num),
    "max_epochs": (("max_epochs", "num_epochs", "num_train_epochs", "epochs", "n_epochs"), _num),
    "decay_lr": (("decay_lr",), _flag),
    # llama2.c and nanoGPT save only on a new best val loss unless this is True
    "always_save_checkpoint": (("always_save_checkpoint",), _flag),
    "article_ids": (("article_ids", "article_token_ids", "weighted_ids", "article_tokens"),
                    lambda v: isinstance(v, (list, tuple)) and bool(v) and all(isinstance(i, int) and not
                                                                               isinstance(i, bool) for i in v)),
    # the suspect objective's own settings (tsdiag retrain and the origin project record them)
    "article_weight": (("article_weight", "article_loss_weight", "article_weight_multiplier", "article_multiplier"),
                       _num),
    "lr_scheduler": (("lr_scheduler_type", "lr_scheduler", "lr_schedule", "scheduler", "schedule"), _text),
    "vocab_source": (("vocab_source", "tokenizer_name_or_path", "tokenizer_name", "tokenizer_path", "tokenizer",
                      "vocab_file"), _text),
    "dataset": (("dataset", "dataset_name", "dataset_dir", "data_dir", "data_path", "train_data", "data"), _text),
}

ARCHITECTURE: dict[str, tuple[tuple[str, ...], Callable[[Any], bool]]] = {
    "vocab_size": (("vocab_size", "n_vocab", "num_tokens"), _positive_count),
    "dim": (("dim", "n_embd", "hidden_size", "d_model", "n_embed", "embed_dim", "emb_dim", "model_dim"),
            _positive_count),
    "n_layers": (("n_layers", "n_layer", "num_hidden_layers", "num_layers", "depth"), _positive_count),
    "n_heads": (("n_heads", "n_head", "num_attention_heads", "num_heads"), _positive_count),
    "n_kv_heads": (("n_kv_heads", "num_key_value_heads", "n_kv_head", "num_kv_heads"), _positive_count),
    "hidden_dim": (("hidden_dim", "intermediate_size", "ffn_dim", "d_ff", "n_inner", "ffn_hidden_size"),
                   _positive_count),
    "max_seq_len": (("max_seq_len", "block_size", "max_position_embeddings", "n_positions", "seq_len",
                     "context_length", "n_ctx", "seq_length", "context_size", "max_len"), _positive_count),
    "tied_output": (("tie_word_embeddings", "tied_embeddings", "tie_embeddings", "weight_tying"), _flag),
    "initializer_range": (("initializer_range", "init_std"), _rate),
}

TRAINING: dict[str, tuple[tuple[str, ...], Callable[[Any], bool]]] = {
    "step": (("iter_num", "global_step", "step", "iteration", "iter", "current_step", "train_step",
              "steps_done", "num_updates"), _count),
    "epoch": (("epoch", "current_epoch"), _num),
    "val_loss": (("val_loss", "valid_loss", "validation_loss", "eval_loss", "loss_val", "val_loss_avg"), _loss),
    "best_val_loss": (("best_val_loss", "best_valid_loss", "best_validation_loss", "best_eval_loss", "best_loss"),
                      _loss),
    "train_loss": (("train_loss", "training_loss", "loss"), _loss),
    "val_ppl": (("val_ppl", "val_perplexity", "eval_perplexity", "perplexity", "ppl"), _loss),
    "best_val_ppl": (("best_val_ppl", "best_val_perplexity", "best_ppl"), _loss),
}


def norm_key(key: Any) -> str:
    return str(key).strip().lower().replace("-", "_").replace("/", "_").replace(" ", "_")


@dataclass(frozen=True)
class Leaf:
    label: str
    path: tuple
    value: Any

    @property
    def key(self) -> str:
        return norm_key(self.path[-1])

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def source(self) -> str:
        return f"{self.label}: {dotted(self.path)}" if self.path else self.label

    def in_section(self, sections: set[str]) -> bool:
        return any(norm_key(p) in sections for p in self.path[:-1])


def join_source(where: str, rest: str) -> str:
    """``ckpt.pt: optimizer`` + ``param_groups[0].lr``; a whole-document ``scheduler.pt`` gets the colon."""
    return f"{where}.{rest}" if ": " in where else f"{where}: {rest}"


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def is_optimizer_state(obj: Any) -> bool:
    return isinstance(obj, dict) and "state" in obj and "param_groups" in obj


def is_scheduler_state(obj: Any) -> bool:
    return isinstance(obj, dict) and "last_epoch" in obj and ("base_lrs" in obj or "_last_lr" in obj)


def _value(v: Any) -> Any:
    if isinstance(v, TensorRef):
        return v.values() if v.numel == 1 else None
    return v


def leaves(doc: Document) -> list[Leaf]:
    """Every scalar or short list in the document, shallow ones first; state subtrees skipped."""
    out: list[Leaf] = []
    queue: list[tuple[tuple, Any]] = [((), doc.tree)]
    while queue:
        path, node = queue.pop(0)
        if isinstance(node, dict):
            if path and (is_optimizer_state(node) or is_scheduler_state(node)):
                continue
            for key, value in node.items():
                if norm_key(key) in SKIP_SECTIONS:
                    continue
                queue.append((path + (key,), value))
        elif isinstance(node, (list, tuple)) and path and not all(_num(v) for v in node):
            continue
        else:
            value = _value(node)
            if value is not None and path:
                out.append(Leaf(doc.label, path, value))
    return out


def _first(candidates: list[Leaf], names: tuple[str, ...], accept: Callable[[Any], bool]) -> Leaf | None:
    ranked = [(leaf.depth, names.index(leaf.key), i, leaf) for i, leaf in enumerate(candidates)
              if leaf.key in names and accept(leaf.value)]
    return min(ranked)[3] if ranked else None


class Interpreter:
    """Collects recorded values from a checkpoint's documents (first document = the checkpoint itself)."""

    def __init__(self, documents: list[Document], config: Document | None = None):
        self.documents = documents
        self.config = config
        self.notes: list[str] = []
        self.leaves = [leaf for doc in documents for leaf in leaves(doc)]
        self.config_leaves = leaves(config) if config is not None else []

    # ------------------------------------------------------------ architecture
    def recorded_architecture(self) -> dict[str, Sourced]:
        found: dict[str, Sourced] = {}
        settings = [leaf for leaf in self.leaves if leaf.in_section(CONFIG_SECTIONS) or leaf.label.endswith(".json")]
        for name, (names, accept) in ARCHITECTURE.items():
            leaf = _first(settings, names, accept)
            if leaf is not None:
                found[name] = Sourced(leaf.value, leaf.source, RECORDED)
            else:
                leaf = _first(self.config_leaves, names, accept)
                if leaf is not None:
                    found[name] = Sourced(leaf.value, leaf.source, CONFIG)
        return found

    # ----------------------------------------------------------- hyperparameters
    def hyperparameters(self, trainer: str | None, optimizer: OptimizerState | None,
                        scheduler: SchedulerState | None, extra: dict[str, Sourced] | None = None) -> dict[str, Sourced]:
        """Settings by meaning: recorded, then optimizer/scheduler-derived, then --config, then trainer defaults.

        ``extra`` holds values the reader found outside the documents' keys
        (trainer_state.json's max_steps, a logged warmup); they rank with the
        derived ones.
        """
        # a bare "lr" at the top of a checkpoint is the current lr, not a setting
        candidates = [leaf for leaf in self.leaves
                      if not (leaf.depth == 1 and leaf.key == "lr" and not leaf.label.endswith((".json", ".yaml", ".yml")))
                      and not leaf.in_section({"metrics", "state"})]
        found: dict[str, Sourced] = {}
        for name, (names, accept) in HYPERPARAMETERS.items():
            leaf = _first(candidates, names, accept)
            if leaf is not None:
                found[name] = Sourced(leaf.value, leaf.source, RECORDED)
        self._betas_from_pairs(candidates, found, RECORDED)

        # values only the optimizer / scheduler state remembers
        derived: dict[str, Sourced] = {}
        if scheduler is not None and scheduler.base_lr is not None:
            derived["learning_rate"] = scheduler.base_lr
        elif optimizer is not None and optimizer.initial_lr is not None:
            derived["learning_rate"] = optimizer.initial_lr
        if optimizer is not None:
            if optimizer.weight_decay is not None:
                derived["weight_decay"] = optimizer.weight_decay
            if optimizer.betas is not None:
                derived["betas"] = optimizer.betas
        derived.update(self.scheduler_hyperparameters(scheduler))
        warmup = self.warmup_from_log()
        if warmup is not None:
            derived["warmup_iters"] = warmup
        for name, value in {**derived, **(extra or {})}.items():
            found.setdefault(name, value)

        # the user's --config fills what is still missing
        if self.config_leaves:
            config_found: dict[str, Sourced] = {}
            for name, (names, accept) in HYPERPARAMETERS.items():
                leaf = _first(self.config_leaves, names, accept)
                if leaf is not None:
                    config_found[name] = Sourced(leaf.value, leaf.source, CONFIG)
            self._betas_from_pairs(self.config_leaves, config_found, CONFIG)
            for name, value in config_found.items():
                if name not in found:
                    found[name] = value
                elif found[name].value != value.value:
                    self.notes.append(f"{value.source} says {name} = {value.value}, but {found[name].source} "
                                      f"recorded {found[name].value}; the recorded value is used")

        if "warmup_iters" not in found and "warmup_ratio" in found and "max_iters" in found:
            ratio, total = found["warmup_ratio"], found["max_iters"]
            found["warmup_iters"] = Sourced(round(ratio.value * total.value),
                                            f"warmup_ratio x max_iters ({ratio.source}; {total.source})", DERIVED)

        # the trainer's own defaults, last
        if trainer in defaults.TRAINER_DEFAULTS:
            vocab = self.recorded_architecture().get("vocab_size")
            for name, value in defaults.TRAINER_DEFAULTS[trainer].items():
                if name not in found and name in HYPERPARAMETERS:
                    found[name] = Sourced(value, f"inferred from {trainer} train.py defaults", INFERRED)
            if found.get("vocab_source") is not None and found["vocab_source"].origin == INFERRED \
                    and vocab is not None and vocab.value != defaults.LLAMA2_VOCAB_SIZE:
                # llama2.c's default "llama2" means the 32,000-piece tokenizer; any other size is "custom"
                found["vocab_source"] = Sourced("custom", f"inferred: {vocab.source} is {vocab.value:,}, not "
                                                          f"Llama 2's {defaults.LLAMA2_VOCAB_SIZE:,}", INFERRED)
        for name, (value, how) in defaults.FIXED_IN_CODE.get(trainer, {}).items():
            if name in found:
                continue
            if isinstance(value, str):
                if value in found:
                    found[name] = Sourced(found[value].value, f"inferred: {how}", INFERRED)
            else:
                found[name] = Sourced(value, f"inferred: {how}", INFERRED)
        order = list(HYPERPARAMETERS)
        return dict(sorted(found.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))

    @staticmethod
    def _betas_from_pairs(candidates: list[Leaf], found: dict[str, Sourced], origin: str) -> None:
        if "betas" in found:
            return
        for first, second in (("beta1", "beta2"), ("adam_beta1", "adam_beta2")):
            b1 = _first(candidates, (first,), _rate)
            b2 = _first(candidates, (second,), _rate)
            if b1 is not None and b2 is not None:
                found["betas"] = Sourced([b1.value, b2.value], f"{b1.source}, {b2.source}", origin)
                return

    # ---------------------------------------------------------------- training
    def training_state(self) -> TrainingState:
        state = TrainingState()
        measured = [leaf for leaf in self.leaves if not leaf.in_section(CONFIG_SECTIONS)
                    and not leaf.label.startswith(("config.json", "scheduler", "optimizer"))]
        values: dict[str, Sourced] = {}
        for name, (names, accept) in TRAINING.items():
            leaf = _first(measured, names, accept)
            if leaf is None:
                continue
            value = leaf.value
            if name in ("val_loss", "best_val_loss") and _num(value) and value >= PLACEHOLDER_LOSS:
                self.notes.append(f"{leaf.source} = {value:g} is the trainer's starting placeholder: "
                                  "no evaluation was recorded")
                continue
            if name == "step":
                value = int(value)
            values[name] = Sourced(value, leaf.source, RECORDED)
        state.step = values.get("step")
        state.epoch = values.get("epoch")
        state.train_loss = values.get("train_loss")
        state.val_ppl = values.get("val_ppl")
        state.best_val_loss = values.get("best_val_loss")
        best_ppl = values.get("best_val_ppl")
        if state.best_val_loss is None and best_ppl is not None and _num(best_ppl.value) and best_ppl.value > 0:
            state.best_val_loss = Sourced(math.log(best_ppl.value), f"ln of {best_ppl.source}", DERIVED)
        state.val_loss = values.get("val_loss")
        if state.val_loss is None and state.val_ppl is not None and _num(state.val_ppl.value) and state.val_ppl.value > 0:
            state.val_loss = Sourced(math.log(state.val_ppl.value), f"ln of {state.val_ppl.source}", DERIVED)
        state.val_loss = state.val_loss or state.best_val_loss  # the current value first, the best one failing it
        self._hf_trainer_state(state)
        self._lightning_checkpoint_callback(state)
        state.optimizer = self.optimizer_state()
        state.scheduler = self.scheduler_state()
        state.has_optimizer_state = state.optimizer is not None and state.optimizer.n_params_with_state > 0
        return state

    def _hf_trainer_state(self, state: TrainingState) -> None:
        for doc in self.documents:
            if not (isinstance(doc.tree, dict) and isinstance(doc.tree.get("log_history"), list)):
                continue
            history = [h for h in doc.tree["log_history"] if isinstance(h, dict)]
            step = state.step.value if state.step is not None else None
            evals = [(i, h) for i, h in enumerate(history) if _loss(h.get("eval_loss"))
                     and (step is None or not _num(h.get("step")) or h["step"] <= step)]
            if evals and (state.val_loss is None or state.val_loss.source.startswith(doc.label)):
                i, h = evals[-1]
                state.val_loss = Sourced(h["eval_loss"], f"{doc.label}: log_history[{i}].eval_loss "
                                                         f"(step {h.get('step')})", RECORDED)
            trains = [(i, h) for i, h in enumerate(history) if _loss(h.get("loss"))]
            if trains and state.train_loss is None:
                i, h = trains[-1]
                state.train_loss = Sourced(h["loss"], f"{doc.label}: log_history[{i}].loss (step {h.get('step')})",
                                           RECORDED)
            best = doc.tree.get("best_metric")
            if _num(best):
                state.best_metric = Sourced(best, f"{doc.label}: best_metric", RECORDED)
                if any(abs(h["eval_loss"] - best) < 1e-12 for _, h in evals):
                    state.best_val_loss = Sourced(best, f"{doc.label}: best_metric (an eval_loss)", RECORDED)
            if _text(doc.tree.get("best_model_checkpoint")):
                state.best_checkpoint = Sourced(doc.tree["best_model_checkpoint"],
                                                f"{doc.label}: best_model_checkpoint", RECORDED)

    def _lightning_checkpoint_callback(self, state: TrainingState) -> None:
        for doc in self.documents:
            callbacks = doc.tree.get("callbacks") if isinstance(doc.tree, dict) else None
            if not isinstance(callbacks, dict):
                continue
            for name, cb in callbacks.items():
                if not (isinstance(cb, dict) and "best_model_path" in cb):
                    continue
                where = f"{doc.label}: callbacks.{str(name).split('{')[0]}"
                monitor = str(cb.get("monitor") or "")
                score, current = _value(cb.get("best_model_score")), _value(cb.get("current_score"))
                if _text(cb.get("best_model_path")):
                    state.best_checkpoint = Sourced(cb["best_model_path"], join_source(where, "best_model_path"), RECORDED)
                if _num(score):
                    state.best_metric = Sourced(score, join_source(where, f"best_model_score ({monitor})"), RECORDED)
                if "loss" in monitor.lower():
                    if _loss(score):
                        state.best_val_loss = state.best_val_loss or Sourced(
                            score, join_source(where, f"best_model_score ({monitor})"), RECORDED)
                    if _loss(current) and state.val_loss is None:
                        state.val_loss = Sourced(current, join_source(where, f"current_score ({monitor})"), RECORDED)
                    elif state.val_loss is None and state.best_val_loss is not None:
                        state.val_loss = state.best_val_loss

    # -------------------------------------------------------------- optimizer
    def _states(self, predicate: Callable[[Any], bool]) -> list[tuple[str, Any]]:
        found = []
        for doc in self.documents:
            stack = [((), doc.tree)]
            while stack:
                path, node = stack.pop()
                if predicate(node):
                    found.append((f"{doc.label}: {dotted(path)}" if path else doc.label, node))
                    continue
                if isinstance(node, dict):
                    stack.extend((path + (k,), v) for k, v in node.items() if not isinstance(v, TensorRef))
                elif isinstance(node, list):
                    stack.extend((path + (i,), v) for i, v in enumerate(node))
        return sorted(found, key=lambda kv: kv[0])

    def optimizer_state(self) -> OptimizerState | None:
        states = self._states(is_optimizer_state)
        if not states:
            return None
        where, opt = states[0]
        entries = opt["state"] if isinstance(opt["state"], dict) else {}
        keys = {k for entry in entries.values() if isinstance(entry, dict) for k in entry}
        kind = "AdamW-like" if "exp_avg_sq" in keys else "SGD-momentum" if "momentum_buffer" in keys else (
            "empty" if not entries else "unknown")
        facts = OptimizerState(kind=kind, source=where, n_params_with_state=len(entries))
        for index, entry in entries.items():
            if isinstance(entry, dict) and "step" in entry:
                step = _value(entry["step"])
                if _num(step):
                    facts.step = Sourced(int(step), join_source(where, f"state[{index}].step"), RECORDED)
                break
        groups = opt["param_groups"] if isinstance(opt["param_groups"], list) else []
        if groups and isinstance(groups[0], dict):
            g = groups[0]
            if _num(g.get("lr")):
                facts.current_lr = Sourced(g["lr"], join_source(where, "param_groups[0].lr"), RECORDED)
            if _rate(g.get("initial_lr")):
                facts.initial_lr = Sourced(g["initial_lr"], join_source(where, "param_groups[0].initial_lr"), DERIVED)
            decays = [(i, grp.get("weight_decay")) for i, grp in enumerate(groups)
                      if isinstance(grp, dict) and _num(grp.get("weight_decay"))]
            if decays:
                i, wd = max(decays, key=lambda kv: kv[1])
                facts.weight_decay = Sourced(wd, join_source(where, f"param_groups[{i}].weight_decay"), DERIVED)
            if _betas(g.get("betas")):
                facts.betas = Sourced(list(g["betas"]), join_source(where, "param_groups[0].betas"), DERIVED)
        return facts

    def scheduler_state(self) -> SchedulerState | None:
        states = self._states(is_scheduler_state)
        if not states:
            return None
        where, sched = states[0]
        kinds = (("T_max", "CosineAnnealingLR"), ("T_0", "CosineAnnealingWarmRestarts"),
                 ("total_steps", "OneCycleLR"), ("_schedulers", "SequentialLR"), ("lr_lambdas", "LambdaLR"),
                 ("step_size", "StepLR"), ("start_factor", "LinearLR"))
        kind = next((name for key, name in kinds if key in sched), "unknown")
        facts = SchedulerState(source=where, kind=kind)
        if _count(sched.get("last_epoch")):
            facts.last_epoch = Sourced(int(sched["last_epoch"]), join_source(where, "last_epoch"), RECORDED)
        base = sched.get("base_lrs")
        if isinstance(base, list) and base and _rate(base[0]):
            facts.base_lr = Sourced(base[0], join_source(where, "base_lrs[0]"), DERIVED)
        last = sched.get("_last_lr")
        if isinstance(last, list) and last and _num(last[0]):
            facts.last_lr = Sourced(last[0], join_source(where, "_last_lr[0]"), RECORDED)
        return facts

    def scheduler_hyperparameters(self, scheduler: SchedulerState | None) -> dict[str, Sourced]:
        """Schedule lengths a scheduler's state remembers (cosine T_max, eta_min)."""
        if scheduler is None:
            return {}
        where, sched = self._states(is_scheduler_state)[0]
        found = {}
        if _positive_count(sched.get("T_max")):
            found["lr_decay_iters"] = Sourced(int(sched["T_max"]), join_source(where, "T_max"), DERIVED)
        if _rate0(sched.get("eta_min")):
            found["min_lr"] = Sourced(sched["eta_min"], join_source(where, "eta_min"), DERIVED)
        if _positive_count(sched.get("total_steps")):
            found["lr_decay_iters"] = Sourced(int(sched["total_steps"]), join_source(where, "total_steps"), DERIVED)
        return found

    def warmup_from_log(self) -> Sourced | None:
        """Warmup length from a logged learning-rate curve that rises before it falls (HF log_history)."""
        for doc in self.documents:
            history = doc.tree.get("log_history") if isinstance(doc.tree, dict) else None
            if not isinstance(history, list):
                continue
            points = [(h["step"], h["learning_rate"]) for h in history
                      if isinstance(h, dict) and _num(h.get("step")) and _num(h.get("learning_rate"))]
            if len(points) < 3:
                continue
            peak = max(range(len(points)), key=lambda i: points[i][1])
            if 0 < peak < len(points) - 1 and points[0][1] < points[peak][1]:
                return Sourced(int(points[peak][0]), f"{doc.label}: log_history learning_rate peaks at step "
                                                     f"{points[peak][0]}", DERIVED)
        return None
