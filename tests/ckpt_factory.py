"""Builders for tiny, real-shaped checkpoints of every layout ``tsdiag inspect`` reads.

The models below use the exact parameter names and init schemes of llama2.c
(model.py) and nanoGPT (model.py), so a checkpoint saved from them is laid out
as the real trainers lay theirs out; ``torch.compile`` wraps them before
saving so that ``_orig_mod.`` appears exactly as in a compiled run (compiling
is lazy: nothing is compiled until a forward pass).
"""

from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- models

class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, n_kv_heads: int):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, dim // n_heads
        self.wq = nn.Linear(dim, n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(n_heads * self.head_dim, dim, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        rep = self.n_heads // self.n_kv_heads
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads, hidden):
        super().__init__()
        self.attention = Attention(dim, n_heads, n_kv_heads)
        self.feed_forward = FeedForward(dim, hidden)
        self.attention_norm = RMSNorm(dim)
        self.ffn_norm = RMSNorm(dim)

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.feed_forward(self.ffn_norm(x))


def llama_hidden(dim: int, multiple_of: int = 32) -> int:
    hidden = int(2 * 4 * dim / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class Llama2c(nn.Module):
    """llama2.c's Transformer: same names, same init (0.02; w3/wo scaled by 1/sqrt(2*n_layers))."""

    def __init__(self, vocab_size=512, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, tied=True):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab_size, dim)
        self.layers = nn.ModuleList(Block(dim, n_heads, n_kv_heads, llama_hidden(dim)) for _ in range(n_layers))
        self.norm = RMSNorm(dim)
        self.output = nn.Linear(dim, vocab_size, bias=False)
        if tied:
            self.tok_embeddings.weight = self.output.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
        for name, p in self.named_parameters():
            if name.endswith("w3.weight") or name.endswith("wo.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    def forward(self, idx):
        h = self.tok_embeddings(idx)
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))


class GPTBlock(nn.Module):
    def __init__(self, dim, n_heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, bias=False)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(dim, 3 * dim, bias=False)
        self.attn.c_proj = nn.Linear(dim, dim, bias=False)
        self.ln_2 = nn.LayerNorm(dim, bias=False)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(dim, 4 * dim, bias=False)
        self.mlp.c_proj = nn.Linear(4 * dim, dim, bias=False)
        self.n_heads = n_heads

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_heads, c // self.n_heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.attn.c_proj(y)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class NanoGPT(nn.Module):
    """nanoGPT's GPT (bias=False): names transformer.wte/wpe/h.N..., tied lm_head, c_proj init scaled."""

    def __init__(self, vocab_size=512, dim=64, n_layers=2, n_heads=4, block_size=64):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, dim), wpe=nn.Embedding(block_size, dim),
            h=nn.ModuleList(GPTBlock(dim, n_heads) for _ in range(n_layers)), ln_f=nn.LayerNorm(dim, bias=False)))
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layers))

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def train(model: nn.Module, steps: int, *, used_tokens: int = 200, lr: float = 1e-3, seed: int = 0):
    """Real AdamW training (llama2.c's param groups) on a learnable token stream using only ``used_tokens`` ids."""
    g = torch.Generator().manual_seed(seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    loss = None
    for _ in range(steps):
        seq = [torch.randint(0, used_tokens, (16, 1), generator=g)]
        for _ in range(32):
            seq.append((seq[-1] * 3 + torch.randint(0, 3, (16, 1), generator=g)) % used_tokens)
        s = torch.cat(seq, 1)
        logits = model(s[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), s[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return opt, float(loss.detach()) if loss is not None else None


def optimizer_state(optimizer, step: int) -> dict:
    """``optimizer.state_dict()`` as a trainer saves it at ``step``: AdamW's own step count equals the run's in
    llama2.c, nanoGPT, Lightning and HF Trainer checkpoints (a few training steps stand in for ``step``)."""
    sd = optimizer.state_dict()
    for state in sd["state"].values():
        if "step" in state:
            state["step"] = torch.tensor(float(step))
    return sd


def compiled_state_dict(model: nn.Module) -> dict:
    """The state dict a torch.compile'd model gives: every name starts with ``_orig_mod.``."""
    return torch.compile(model).state_dict()


# ----------------------------------------------------------- trainer dicts

LLAMA2C_CONFIG = dict(out_dir="out", eval_interval=2000, log_interval=1, eval_iters=100, eval_only=False,
                      always_save_checkpoint=False, init_from="scratch", wandb_log=False, batch_size=128,
                      max_seq_len=256, vocab_source="llama2", vocab_size=32000, dim=288, n_layers=6, n_heads=6,
                      n_kv_heads=6, multiple_of=32, dropout=0.0, gradient_accumulation_steps=4,
                      learning_rate=5e-4, max_iters=100000, weight_decay=0.1, beta1=0.9, beta2=0.95,
                      grad_clip=1.0, decay_lr=True, warmup_iters=1000, device="cuda", dtype="bfloat16",
                      compile=True)


def llama2c_checkpoint(path: Path, model: Llama2c | None = None, *, optimizer=None, iter_num: int = 2000,
                       best_val_loss: float = 1.5, n_heads: int = 4, n_kv_heads: int = 2, max_seq_len: int = 64,
                       **config) -> Path:
    """llama2.c train.py's checkpoint dict, from a compiled model (``_orig_mod.`` names)."""
    model = model or Llama2c()
    vocab, dim = model.tok_embeddings.weight.shape
    model_args = dict(dim=dim, n_layers=len(model.layers), n_heads=n_heads, n_kv_heads=n_kv_heads,
                      vocab_size=vocab, multiple_of=32, max_seq_len=max_seq_len, dropout=0.0)
    cfg = {**LLAMA2C_CONFIG, **{k: v for k, v in model_args.items() if k in LLAMA2C_CONFIG}, **config}
    if optimizer is None:
        optimizer, _ = train(model, 0)
    torch.save({"model": compiled_state_dict(model), "optimizer": optimizer_state(optimizer, iter_num),
                "model_args": model_args, "iter_num": iter_num, "best_val_loss": torch.tensor(best_val_loss), "config": cfg}, path)
    return path


def nanogpt_checkpoint(path: Path, model: NanoGPT | None = None, *, iter_num: int = 5000,
                       best_val_loss: float = 1.2, **config) -> Path:
    model = model or NanoGPT()
    vocab, dim = model.transformer.wte.weight.shape
    model_args = dict(n_layer=len(model.transformer.h), n_head=4, n_embd=dim,
                      block_size=model.transformer.wpe.weight.shape[0], bias=False, vocab_size=vocab, dropout=0.0)
    cfg = dict(out_dir="out", dataset="tinystories", gradient_accumulation_steps=1, batch_size=32, block_size=64,
               n_layer=2, n_head=4, n_embd=dim, dropout=0.0, bias=False, learning_rate=6e-4, max_iters=5000,
               weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, decay_lr=True, warmup_iters=100,
               lr_decay_iters=5000, min_lr=6e-5, compile=True)
    cfg.update(config)
    optimizer, _ = train(model, 0)
    torch.save({"model": compiled_state_dict(model), "optimizer": optimizer_state(optimizer, iter_num),
                "model_args": model_args, "iter_num": iter_num, "best_val_loss": torch.tensor(best_val_loss), "config": cfg}, path)
    return path


def lightning_checkpoint(path: Path, model: Llama2c | None = None, *, global_step: int = 1200, epoch: int = 2,
                         val_loss: float = 1.95, best: float = 1.9) -> Path:
    """A PyTorch Lightning ``.ckpt``: state_dict under the LightningModule's ``model.`` attribute."""
    model = model or Llama2c()
    optimizer, _ = train(model, 1)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    monitor_key = "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0}"
    torch.save({
        "epoch": epoch, "global_step": global_step, "pytorch-lightning_version": "2.2.1", "state_dict": state,
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": epoch}}}},
        "callbacks": {monitor_key: {"monitor": "val_loss", "best_model_score": torch.tensor(best),
                                    "best_model_path": "/runs/ckpts/epoch=1-step=800.ckpt",
                                    "current_score": torch.tensor(val_loss), "dirpath": "/runs/ckpts",
                                    "last_model_path": ""}},
        "optimizer_states": [optimizer_state(optimizer, global_step)],
        "lr_schedulers": [{"T_max": 5000, "eta_min": 3e-5, "base_lrs": [3e-4], "last_epoch": global_step,
                           "_last_lr": [2.5e-4]}],
        "hparams_name": "kwargs",
        "hyper_parameters": {"lr": 3e-4, "max_steps": 5000, "warmup_steps": 200, "batch_size": 64},
    }, path)
    return path


def custom_trainer_checkpoint(path: Path, model: Llama2c | None = None, *, global_step: int = 2500, epoch: int = 5,
                              best_val_loss=np.float64(2.31), learning_rate: float = 3e-3, max_steps: int = 20000,
                              warmup_steps: int = 0, decay_steps: int = 10000, min_lr: float = 1e-5,
                              with_optimizer: bool = True) -> Path:
    """A hand-written trainer's dict: model_state_dict, nested config sections, a numpy scalar loss."""
    model = model or Llama2c(tied=False)
    optimizer, _ = train(model, 1, lr=learning_rate)
    ckpt = {
        "epoch": epoch, "global_step": global_step, "model_state_dict": model.state_dict(),
        "scheduler_state_dict": {"last_epoch": global_step, "base_lrs": [learning_rate], "_last_lr": [1e-3],
                                 "lr_lambdas": [None]},
        "best_val_loss": best_val_loss, "best_val_ppl": float(np.exp(float(best_val_loss))),
        "metrics": {"val_loss": 2.35, "val_ppl": 10.49, "train_loss": 2.2},
        "config": {
            "model": {"vocab_size": 512, "dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2},
            "training": {"learning_rate": learning_rate, "max_steps": max_steps, "warmup_steps": warmup_steps,
                         "batch_size": 32, "gradient_accumulation_steps": 1},
            "optimizer": {"weight_decay": 0.1, "betas": [0.9, 0.95]},
            "scheduler": {"min_lr": min_lr, "decay_steps": decay_steps},
            "data": {"dataset": "roneneldan/TinyStories", "tokenizer": "meta-llama/Llama-2-7b-hf"},
        },
    }
    if with_optimizer:
        ckpt["optimizer_state_dict"] = optimizer_state(optimizer, global_step)
    torch.save(ckpt, path)
    return path


# ------------------------------------------------------------ Hugging Face

HF_NAMES = {"attention.wq": "self_attn.q_proj", "attention.wk": "self_attn.k_proj", "attention.wv": "self_attn.v_proj",
            "attention.wo": "self_attn.o_proj", "feed_forward.w1": "mlp.gate_proj", "feed_forward.w2": "mlp.down_proj",
            "feed_forward.w3": "mlp.up_proj", "attention_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_llama_state(model: Llama2c) -> dict[str, torch.Tensor]:
    """llama2.c names -> Hugging Face LlamaForCausalLM names (tied head left out, as save_pretrained does)."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "tok_embeddings.weight":
            out["model.embed_tokens.weight"] = tensor
        elif name == "norm.weight":
            out["model.norm.weight"] = tensor
        elif name == "output.weight":
            if tensor.data_ptr() != model.tok_embeddings.weight.data_ptr():
                out["lm_head.weight"] = tensor
        else:
            _, i, rest = name.split(".", 2)
            part, leaf = rest.rsplit(".", 1)
            out[f"model.layers.{i}.{HF_NAMES[part]}.{leaf}"] = tensor
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def hf_config(model: Llama2c, n_heads: int = 4, n_kv_heads: int = 2) -> dict:
    vocab, dim = model.tok_embeddings.weight.shape
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": dim,
            "intermediate_size": model.layers[0].feed_forward.w1.weight.shape[0],
            "num_hidden_layers": len(model.layers), "num_attention_heads": n_heads,
            "num_key_value_heads": n_kv_heads, "max_position_embeddings": 256, "initializer_range": 0.02,
            "tie_word_embeddings": model.output.weight is model.tok_embeddings.weight, "torch_dtype": "float32"}


def hf_folder(folder: Path, model: Llama2c | None = None, *, shards: int = 1, use_bin: bool = False) -> Path:
    """config.json + model.safetensors (or sharded safetensors with an index, or pytorch_model.bin)."""
    from safetensors.torch import save_file

    model = model or Llama2c()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(hf_config(model)))
    state = hf_llama_state(model)
    if use_bin:
        torch.save(state, folder / "pytorch_model.bin")
    elif shards == 1:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        names = sorted(state)
        weight_map = {}
        for s in range(shards):
            part = names[s::shards]
            shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_file({n: state[n] for n in part}, str(folder / shard), metadata={"format": "pt"})
            weight_map.update({n: shard for n in part})
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": sum(v.numel() * 4 for v in state.values())}, "weight_map": weight_map}))
    return folder


def hf_trainer_checkpoint(folder: Path, model: Llama2c | None = None, *, step: int = 500, max_steps: int = 4000,
                          eval_losses=((250, 2.9), (500, 2.6)), best_metric: float | None = None,
                          best_checkpoint: str | None = None, peak_lr: float = 5e-4, warmup: int = 100) -> Path:
    """A Trainer ``checkpoint-N/`` folder: weights, trainer_state.json, optimizer.pt, scheduler.pt."""
    model = model or Llama2c()
    hf_folder(folder, model)
    optimizer, _ = train(model, 1, lr=peak_lr)
    for group in optimizer.param_groups:
        group["initial_lr"] = peak_lr
    torch.save(optimizer_state(optimizer, step), folder / "optimizer.pt")
    torch.save({"base_lrs": [peak_lr, peak_lr], "last_epoch": step, "_step_count": step + 1, "verbose": False,
                "_get_lr_called_within_step": False, "_last_lr": [peak_lr * 0.8, peak_lr * 0.8],
                "lr_lambdas": [{}, {}]}, folder / "scheduler.pt")
    history = []
    for s in range(50, step + 1, 50):
        lr = peak_lr * min(1.0, s / warmup) if s <= warmup else peak_lr * (1 - (s - warmup) / max_steps)
        history.append({"epoch": s / 1000, "grad_norm": 1.0, "learning_rate": lr, "loss": 4.0 - s / 500, "step": s})
    for s, loss in eval_losses:
        history.append({"epoch": s / 1000, "eval_loss": loss, "eval_runtime": 1.0, "step": s})
    (folder / "trainer_state.json").write_text(json.dumps({
        "best_metric": best_metric, "best_model_checkpoint": best_checkpoint, "epoch": step / 1000,
        "eval_steps": 250, "global_step": step, "is_hyper_param_search": False, "is_local_process_zero": True,
        "is_world_process_zero": True, "log_history": history, "logging_steps": 50, "max_steps": max_steps,
        "num_train_epochs": 4, "save_steps": 500, "train_batch_size": 32}))
    (folder / "training_args.bin").write_bytes(b"\x80\x04not read")
    return folder


# --------------------------------------------------------- llama2.c .bin

def _fp32(fh, tensor: torch.Tensor) -> None:
    fh.write(tensor.detach().float().contiguous().numpy().astype("<f4").tobytes())


def llama2c_export(path: Path, model: Llama2c, version: int, *, n_heads: int = 4, n_kv_heads: int = 2,
                   max_seq_len: int = 64, group_size: int = 64) -> Path:
    """Written to export.py's documented layouts: v0 (legacy), v1 (fp32, 256-byte header), v2 (Q8_0)."""
    dim = model.tok_embeddings.weight.shape[1]
    hidden = model.layers[0].feed_forward.w1.weight.shape[0]
    vocab = model.tok_embeddings.weight.shape[0]
    shared = model.output.weight is model.tok_embeddings.weight
    L = model.layers
    ints = [dim, hidden, len(L), n_heads, n_kv_heads, vocab if (shared or version) else -vocab, max_seq_len]
    head_size = dim // n_heads
    with open(path, "wb") as fh:
        if version == 0:
            fh.write(struct.pack("7i", *ints))
            _fp32(fh, model.tok_embeddings.weight)
            for getter in (lambda l: l.attention_norm.weight, lambda l: l.attention.wq.weight,
                           lambda l: l.attention.wk.weight, lambda l: l.attention.wv.weight,
                           lambda l: l.attention.wo.weight, lambda l: l.ffn_norm.weight,
                           lambda l: l.feed_forward.w1.weight, lambda l: l.feed_forward.w2.weight,
                           lambda l: l.feed_forward.w3.weight):
                for layer in L:
                    _fp32(fh, getter(layer))
            _fp32(fh, model.norm.weight)
            freqs = torch.outer(torch.arange(max_seq_len).float(),
                                1.0 / (10000 ** (torch.arange(0, head_size, 2).float() / head_size)))
            _fp32(fh, torch.cos(freqs))
            _fp32(fh, torch.sin(freqs))
            if not shared:
                _fp32(fh, model.output.weight)
            return path
        fh.write(struct.pack("I", 0x616B3432))
        fh.write(struct.pack("i", version))
        fh.write(struct.pack("7i", *ints))
        fh.write(struct.pack("B", int(shared)))
        if version == 2:
            fh.write(struct.pack("i", group_size))
        fh.write(b"\0" * (256 - fh.tell()))
        norms = [l.attention_norm.weight for l in L] + [l.ffn_norm.weight for l in L] + [model.norm.weight]
        matrices = [model.tok_embeddings.weight]
        for getter in (lambda l: l.attention.wq.weight, lambda l: l.attention.wk.weight,
                       lambda l: l.attention.wv.weight, lambda l: l.attention.wo.weight,
                       lambda l: l.feed_forward.w1.weight, lambda l: l.feed_forward.w2.weight,
                       lambda l: l.feed_forward.w3.weight):
            matrices += [getter(layer) for layer in L]
        if not shared:
            matrices.append(model.output.weight)
        for w in norms:
            _fp32(fh, w)
        for w in matrices:
            if version == 1:
                _fp32(fh, w)
                continue
            groups = w.detach().float().reshape(-1, group_size)
            scale = groups.abs().max(dim=1).values / 127.0
            fh.write(torch.round(groups / scale[:, None]).to(torch.int8).numpy().tobytes())
            _fp32(fh, scale)
    return path


# ------------------------------------------------------------- malicious

class _Payload:
    """Unpickling this runs ``os.system`` (creates ``marker``): what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def malicious_checkpoint(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    if legacy:   # a raw pickle, as an old or hand-made .pt file would be
        path.write_bytes(pickle.dumps({"config": _Payload(marker)}, protocol=2))
    else:
        torch.save({"model": {"w": torch.zeros(2, 2)}, "config": _Payload(marker)}, path)
    return path


# ------------------------------------------------------ shared trained models

_TRAINED: dict = {}


def trained_llama(tied: bool, steps: int = 150):
    """A Llama2c trained for real on 200 of its 512 token ids (cached: training takes ~1.5 s)."""
    key = (tied, steps)
    if key not in _TRAINED:
        torch.manual_seed(0)
        model = Llama2c(tied=tied)
        optimizer, loss = train(model, steps)
        _TRAINED[key] = (model, optimizer, loss)
    return _TRAINED[key]
