"""What known trainers use when a value is not in their checkpoint.

llama2.c and nanoGPT save a ``config`` dict of their module-level settings,
but llama2.c fixes two schedule values in code after building that dict
(``lr_decay_iters = max_iters`` and ``min_lr = 0.0``), so they are never
recorded.  Values from here are reported as "inferred from <trainer>
defaults", never as recorded.  Sources: karpathy/llama2.c train.py and
karpathy/nanoGPT train.py (default config block at the top of each).
"""

from __future__ import annotations

from typing import Any

LLAMA2C = "llama2.c"
LLAMA2_VOCAB_SIZE = 32_000   # llama2.c's vocab_source "llama2": Meta's sentencepiece tokenizer
NANOGPT = "nanoGPT"

# canonical hyperparameter name -> default value in the trainer's train.py
TRAINER_DEFAULTS: dict[str, dict[str, Any]] = {
    LLAMA2C: {
        "learning_rate": 5e-4, "max_iters": 100_000, "weight_decay": 0.1, "betas": [0.9, 0.95],
        "warmup_iters": 1000, "batch_size": 128, "gradient_accumulation_steps": 4, "dropout": 0.0,
        "grad_clip": 1.0, "decay_lr": True, "vocab_source": "llama2", "max_seq_len": 256,
    },
    NANOGPT: {
        "learning_rate": 6e-4, "max_iters": 600_000, "weight_decay": 0.1, "betas": [0.9, 0.95],
        "warmup_iters": 2000, "lr_decay_iters": 600_000, "min_lr": 6e-5, "batch_size": 12,
        "gradient_accumulation_steps": 40, "dropout": 0.0, "grad_clip": 1.0, "decay_lr": True,
        "dataset": "openwebtext", "max_seq_len": 1024,
    },
}

# Values the trainer sets in code after the config is recorded: name -> (value or
# the name of the value it copies, how the code says it).
FIXED_IN_CODE: dict[str, dict[str, tuple[Any, str]]] = {
    LLAMA2C: {
        "lr_decay_iters": ("max_iters", "llama2.c train.py sets lr_decay_iters = max_iters in code"),
        "min_lr": (0.0, "llama2.c train.py sets min_lr = 0.0 in code"),
    },
}


def detect_trainer(tree: Any) -> str | None:
    """llama2.c or nanoGPT from the shape of their checkpoint dict, else None."""
    if not isinstance(tree, dict) or "iter_num" not in tree:
        return None
    model_args = tree.get("model_args")
    config = tree.get("config") if isinstance(tree.get("config"), dict) else {}
    if isinstance(model_args, dict):
        if "multiple_of" in model_args or "n_kv_heads" in model_args or "vocab_source" in config:
            return LLAMA2C
        if "n_embd" in model_args or "block_size" in model_args:
            return NANOGPT
    return None
