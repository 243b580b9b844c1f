"""A small hand-written trainer of the kind tsdiag is asked about: plain PyTorch, its own tiny model,
an article-weighted loss and Python-logging output.  Used by benchmarks/accuracy.py to make real
"custom trainer" runs; it is not part of tsdiag and shares no code with it (or with llama2.c/nanoGPT).

What it does, as such trainers do:

* reads uint16 token shards (llama2.c's ``.bin`` files: the first sorted shard is validation unless
  ``--val`` is given) and samples random windows of ``--seq-len + 1`` tokens;
* trains a small pre-norm transformer (learned positions, GELU MLP, untied head) with AdamW,
  linear warmup and cosine decay;
* optimizes ``sum(w * ce) / sum(w)`` where ``w = --article-weight`` on targets whose id is in
  ``--article-ids`` and 1 elsewhere;
* logs, every ``--log-interval`` steps, through ``logging`` (logger ``main``)::

    2025-10-26 02:12:34 - INFO - main - Step 10 | Loss: 8.1552 (↓ Improving)
    2025-10-26 02:12:34 - INFO - main - Article Loss: 4.55 | Other Loss: 10.10 | Ratio: 0.45x

  the article/other losses are the plain cross-entropy means of the current batch's weighted-id targets
  and of the rest; a batch without any weighted-id target logs ``Article Loss: 0.0000`` (the mean
  over an empty mask is taken as 0, a real quirk of such trainers);
* saves ``{"model": state_dict, "config": {...}, "step": N}`` with ``torch.save`` at every
  evaluation and at the end.

    python benchmarks/custom_trainer.py --data 'data/tok512/*.bin' --vocab-size 512 \
        --article-ids 261,264 --article-weight 5 --max-iters 400 --out out
"""

from __future__ import annotations

import argparse
import glob
import logging
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger("main")


class Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, c // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.mlp(self.norm2(x)))


class TinyLM(nn.Module):
    def __init__(self, vocab_size: int, dim: int, n_layers: int, n_heads: int, seq_len: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(seq_len, dim)
        self.blocks = nn.ModuleList(Block(dim, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.embed(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.norm(x))


def load_tokens(paths: list[str]) -> np.ndarray:
    return np.concatenate([np.fromfile(p, dtype=np.uint16) for p in paths]).astype(np.int64)


def batch(tokens: np.ndarray, batch_size: int, seq_len: int, gen: torch.Generator):
    starts = torch.randint(len(tokens) - seq_len - 1, (batch_size,), generator=gen).tolist()
    chunk = torch.from_numpy(np.stack([tokens[s:s + seq_len + 1] for s in starts]))
    return chunk[:, :-1], chunk[:, 1:]


def split_losses(ce: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy on weighted-id targets and on the others; an empty mask gives 0."""
    article = ce[mask].mean().item() if mask.any() else 0.0
    other = ce[~mask].mean().item() if (~mask).any() else 0.0
    return article, other


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.1 + 0.5 * (1 + math.cos(math.pi * progress)) * (peak - peak * 0.1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="token shards (globs work)")
    ap.add_argument("--val", action="append", help="validation shards (default: the first --data shard)")
    ap.add_argument("--vocab-size", type=int, required=True)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-iters", type=int, default=400)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--article-ids", default="", help="comma-separated token ids weighted in the loss")
    ap.add_argument("--article-weight", type=float, default=5.0)
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--eval-interval", type=int, default=100)
    ap.add_argument("--eval-iters", type=int, default=10)
    ap.add_argument("--out", default="out")
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)

    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    shards = sorted(p for pattern in args.data for p in sorted(glob.glob(pattern)) or [pattern])
    if args.val:
        val_paths = sorted(p for pattern in args.val for p in sorted(glob.glob(pattern)) or [pattern])
        train_paths = shards
    else:
        val_paths, train_paths = shards[:1], shards[1:] or shards
    train_tokens, val_tokens = load_tokens(train_paths), load_tokens(val_paths)
    article_ids = [int(x) for x in args.article_ids.split(",") if x.strip()]
    ids = torch.tensor(article_ids, dtype=torch.long)

    config = {
        "vocab_size": args.vocab_size, "dim": args.dim, "n_layers": args.n_layers, "n_heads": args.n_heads,
        "seq_len": args.seq_len, "dropout": args.dropout, "batch_size": args.batch_size,
        "max_iters": args.max_iters, "learning_rate": args.lr, "warmup_iters": args.warmup,
        "weight_decay": args.weight_decay, "article_ids": article_ids, "article_weight": args.article_weight,
        "train_shards": train_paths, "val_shards": val_paths, "seed": args.seed,
    }
    log.info("Config: %s", config)
    log.info("Train tokens: %d | Val tokens: %d", len(train_tokens), len(val_tokens))

    model = TinyLM(args.vocab_size, args.dim, args.n_layers, args.n_heads, args.seq_len, args.dropout)
    log.info("Model parameters: %d", sum(p.numel() for p in model.parameters()))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    os.makedirs(args.out, exist_ok=True)

    def save(step: int) -> None:
        path = os.path.join(args.out, "ckpt.pt")
        torch.save({"model": model.state_dict(), "config": config, "step": step}, path)
        log.info("Saved checkpoint to %s (step %d)", path, step)

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        losses = []
        for _ in range(args.eval_iters):
            x, y = batch(val_tokens, args.batch_size, args.seq_len, gen)
            losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
        model.train()
        return sum(losses) / len(losses)

    previous = None
    started = time.time()
    for step in range(1, args.max_iters + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, args.lr, args.warmup, args.max_iters)
        x, y = batch(train_tokens, args.batch_size, args.seq_len, gen)
        logits = model(x)
        ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        mask = torch.isin(y.flatten(), ids) if len(article_ids) else torch.zeros_like(ce, dtype=torch.bool)
        weights = torch.where(mask, torch.full_like(ce, args.article_weight), torch.ones_like(ce))
        loss = (weights * ce).sum() / weights.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

        if step % args.log_interval == 0 or step == 1:
            value = loss.item()
            trend = "↓ Improving" if previous is None or value < previous else "↑ Worsening"
            previous = value
            article, other = split_losses(ce.detach(), mask)
            ratio = article / other if other > 0 else 0.0
            log.info("Step %d | Loss: %.4f (%s)", step, value, trend)
            log.info("Article Loss: %.4f | Other Loss: %.4f | Ratio: %.2fx", article, other, ratio)
        if step % args.eval_interval == 0 or step == args.max_iters:
            log.info("Validation Loss: %.4f", evaluate())
            save(step)
    log.info("Training finished: %d steps in %.1fs", args.max_iters, time.time() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
