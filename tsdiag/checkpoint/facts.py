"""Typed facts about a checkpoint: what it is, how it was trained, how its weights look.

Readers produce raw material, ``anatomy``/``meaning``/``health`` turn it into
these dataclasses, rules judge them and ``present`` renders them.  Every value
that came from somewhere carries that place in a :class:`Sourced`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How a value became known, from strongest to weakest.
RECORDED = "recorded"   # stored in the checkpoint (or a file of the same folder)
DERIVED = "derived"     # computed from recorded values or tensor shapes
CONFIG = "config"       # from the --config file the user supplied
INFERRED = "inferred"   # the trainer's code default, not stored anywhere


@dataclass(frozen=True)
class Sourced:
    """A value with the place it came from, e.g. ``5e-4`` from ``ckpt.pt: config.learning_rate``."""

    value: Any
    source: str
    origin: str = RECORDED

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "origin": self.origin}


@dataclass
class Architecture:
    family: str                                  # llama2.c | nanogpt | hf-llama | hf-gpt2 | hf-gpt-neo | unknown
    vocab_size: Sourced | None = None
    dim: Sourced | None = None
    n_layers: Sourced | None = None
    n_heads: Sourced | None = None
    n_kv_heads: Sourced | None = None
    hidden_dim: Sourced | None = None
    max_seq_len: Sourced | None = None
    tied_output: Sourced | None = None
    n_params: int = 0
    n_params_embedding: int = 0                  # token (+ position) embeddings (+ an untied output head)
    dtypes: dict[str, int] = field(default_factory=dict)   # dtype -> number of parameters
    embedding_name: str | None = None            # weight name of the token embedding
    output_name: str | None = None               # weight name of the output head, if separate
    buffers: list[str] = field(default_factory=list)       # non-parameter tensors (masks, rotary tables)

    @property
    def n_params_non_embedding(self) -> int:
        return self.n_params - self.n_params_embedding

    def get(self, name: str) -> Any:
        value = getattr(self, name)
        return value.value if isinstance(value, Sourced) else value


@dataclass
class OptimizerState:
    kind: str                                    # "AdamW-like" (exp_avg/exp_avg_sq), "SGD-momentum", "unknown"
    source: str                                  # where the state dict sits, e.g. "ckpt.pt: optimizer"
    n_params_with_state: int = 0
    step: Sourced | None = None                  # the optimizer's own step count
    current_lr: Sourced | None = None            # param_groups[0].lr when saved
    initial_lr: Sourced | None = None
    weight_decay: Sourced | None = None
    betas: Sourced | None = None


@dataclass
class SchedulerState:
    source: str
    kind: str = "unknown"
    last_epoch: Sourced | None = None            # the scheduler's step counter
    base_lr: Sourced | None = None
    last_lr: Sourced | None = None


@dataclass
class TrainingState:
    step: Sourced | None = None
    epoch: Sourced | None = None
    val_loss: Sourced | None = None              # val loss of these weights when saved (or the best one recorded)
    best_val_loss: Sourced | None = None
    train_loss: Sourced | None = None
    val_ppl: Sourced | None = None
    has_optimizer_state: bool = False
    optimizer: OptimizerState | None = None
    scheduler: SchedulerState | None = None
    best_checkpoint: Sourced | None = None       # path of the best checkpoint a trainer recorded
    best_metric: Sourced | None = None           # the metric value of that best checkpoint


@dataclass
class FileFacts:
    path: Path
    size_bytes: int
    mtime: float
    role: str | None = None                      # "latest" | "best" | "final" from the name
    step_from_name: int | None = None
    epoch_from_name: int | None = None


@dataclass
class TensorHealth:
    name: str
    shape: tuple[int, ...]
    dtype: str
    layer: str                                   # "embedding", "0", "1", ..., "final", "output"
    kind: str                                    # matrix | norm | bias | vector
    verdict: str                                 # trained | init | constant | nonfinite | unchecked
    init: str = ""                               # description of the expected init, e.g. "normal(0, 0.02)"
    init_std: float | None = None
    std: float | None = None
    mean: float | None = None
    std_ratio: float | None = None               # std / init_std
    excess_kurtosis: float | None = None
    spectral_ratio: float | None = None          # top singular value / Marchenko-Pastur edge of iid noise
    row_spread_ratio: float | None = None        # row-norm spread / the spread of iid rows
    rows_sampled: int | None = None
    rows_total: int | None = None
    reasons: list[str] = field(default_factory=list)   # why not "init" (or why unchecked)


@dataclass
class LayerHealth:
    layer: str
    n_matrices: int
    n_init: int
    n_params: int
    mean_std_ratio: float | None
    max_spectral_ratio: float | None
    verdict: str


@dataclass
class FrozenRows:
    """Embedding rows that never moved: tokens the model never saw (untied embeddings only)."""

    method: str                                  # "optimizer" (exp_avg_sq rows exactly 0) | "statistics"
    count: int
    rows_checked: int
    vocab_size: int
    source: str
    cluster_std: float | None = None             # std of the frozen rows
    init_std: float | None = None
    first_ids: list[int] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.count / self.rows_checked if self.rows_checked else 0.0


@dataclass
class NonFinite:
    name: str
    nan: int
    inf: int
    is_weight: bool


@dataclass
class HealthFacts:
    verdict: str                                 # trained | init | partly-init | unknown
    matrices_checked: int
    matrices_init: int
    tensors: list[TensorHealth]
    layers: list[LayerHealth]
    sample_rows_max: int
    sampled: bool                                # True when some matrices were judged on a row sample
    nonfinite: list[NonFinite] = field(default_factory=list)
    tensors_scanned: int = 0                     # tensors scanned for NaN/Inf
    bytes_scanned: int = 0
    full_scan: bool = True                       # False: optimizer state scanned on its first 16 MiB per tensor
    frozen_rows: FrozenRows | None = None
    zero_rows: int | None = None                 # embedding rows that are exactly zero (e.g. padding)

    @property
    def share_init(self) -> float:
        return self.matrices_init / self.matrices_checked if self.matrices_checked else 0.0


@dataclass
class SiblingCheckpoint:
    path: Path
    step: int | None
    val_loss: float | None
    mtime: float
    step_source: str = ""
    val_loss_source: str = ""


@dataclass
class CheckpointInspection:
    """Everything ``tsdiag inspect`` knows about one checkpoint (file or folder)."""

    path: Path
    format: str                                  # torch-zip | torch-legacy | safetensors | hf-folder | hf-trainer-checkpoint | llama2c-bin
    layout: str                                  # llama2.c | nanoGPT | lightning | trainer-dict | state-dict | hf | llama2c-export-v0..v2
    trainer: str | None                          # llama2.c | nanoGPT | lightning | hf-trainer | None
    weights_key: str | None                      # key path of the state dict in the file
    stripped_prefixes: list[str]
    architecture: Architecture
    training: TrainingState
    hyperparameters: dict[str, Sourced]
    file: FileFacts
    health: HealthFacts | None = None
    siblings: list[SiblingCheckpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)   # tsdiag.findings.Finding
    tokenizer: Any = None                        # tsdiag.tokenizer.Tokenizer, when given: per-byte units, piece names
    bytes_per_token: Any = None                  # tsdiag.units.BytesPerToken
    article_ids: Any = None                      # Sourced list of weighted ids (--article-ids or the config)

    @property
    def val_bits_per_byte(self) -> float | None:
        """The val loss per byte (per character for a char vocabulary), when the tokenizer is known."""
        from tsdiag.units import bits_per_byte

        val = self.training.val_loss or self.training.best_val_loss
        if self.bytes_per_token is None or val is None or not isinstance(val.value, (int, float)):
            return None
        return round(bits_per_byte(float(val.value), self.bytes_per_token), 4)


@dataclass
class DirectoryEntry:
    path: Path
    format: str
    step: int | None
    epoch: int | None
    val_loss: float | None
    mtime: float
    size_bytes: int
    step_source: str = ""
    val_loss_source: str = ""
    newest: bool = False
    best: bool = False
    other_model: bool = False      # weight shapes differ from the folder's main model: not ranked with it


@dataclass
class DirectoryListing:
    path: Path
    entries: list[DirectoryEntry]
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # (path, why)
