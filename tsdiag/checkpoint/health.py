"""Are these weights trained?  Statistics of each matrix against a fresh init of the same shape.

A freshly initialised matrix is i.i.d. noise with a known law: llama2.c and
nanoGPT draw normal(0, 0.02) (residual projections 0.02/sqrt(2*n_layers):
llama2.c's ``wo`` and ``w3``, nanoGPT's ``c_proj``), Hugging Face models
normal(0, initializer_range), norms start at 1 and biases at 0; PyTorch's
own defaults are uniform(+-1/sqrt(fan_in)) for Linear and normal(0, 1) for
Embedding.  Four tests compare a matrix with that law, each with a tolerance
of ``init_z_max`` standard errors of the statistic for the sample size:

* std against the init std (when the init is known);
* excess kurtosis (0 for a normal init, -1.2 for a uniform one); training
  moves it (Adam's sign-like updates flatten it, long training fattens tails);
* the largest singular value over the Marchenko-Pastur edge
  ``std * (sqrt(rows) + sqrt(cols))`` of i.i.d. noise: learned structure
  shows as singular values above the edge;
* the spread of row norms against the chi spread of i.i.d. rows.

A matrix passing all four is "init".  Large matrices are judged on an evenly
spaced sample of whole rows (at most ``SAMPLE_ELEMENTS`` values), read with
``pread`` so memory stays flat; the report says when it sampled.

Embedding rows that never moved: with an untied embedding, a token that never
occurs gets no gradient, and AdamW only shrinks its row by weight decay, so
its row stays i.i.d. init noise (scaled).  With the optimizer state the
answer is exact (the row's ``exp_avg_sq`` is still zero); without it, rows
are grouped by their std and the densest tight group that is still i.i.d.
noise (and not wider than the init) is reported as an estimate.

NaN/Inf: every float tensor (weights and optimizer state) is scanned in full,
in 16 MiB pieces.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from tsdiag.checkpoint.anatomy import Family, detect_family, is_buffer, layer_of
from tsdiag.checkpoint.facts import (Architecture, FrozenRows, HealthFacts, LayerHealth, NonFinite, TensorHealth)
from tsdiag.checkpoint.tensors import CHUNK_BYTES, TensorRef, nonfinite_counts
from tsdiag.thresholds import Thresholds

SAMPLE_ELEMENTS = 1 << 16          # values per matrix the shape tests look at (256 KiB of float32)
SAMPLE_BLOCKS = 16                 # runs of consecutive rows the sample is taken from
EMBEDDING_ROW_BYTES = 256 << 20    # per-row statistics of the embedding read in full up to this size
POWER_ITERATIONS = 12              # enough to separate learned outliers from the noise edge
CLUSTER_HALF_WIDTH = 3.0           # std errors of a row's std: +-3 covers 99.7% of i.i.d. rows
CLUSTER_SAMPLE_ROWS = 256
SCAN_THREADS = 2                   # the target machines have two cores
GPT_INIT_STD = 0.02

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class InitSpec:
    kind: str               # normal | uniform | ones | zeros | unknown
    std: float | None
    label: str


def expected_init(name: str, shape: tuple[int, ...], family: Family | None, n_layers: int,
                  init_range: float | None) -> InitSpec:
    """The distribution a fresh model of this family gives this tensor."""
    if len(shape) == 1:
        parts = name.split(".")
        is_norm = "norm" in name or (len(parts) > 1 and parts[-2].startswith("ln"))
        if name.endswith(".bias") and (is_norm or family is not None):
            return InitSpec("zeros", 0.0, "zeros")   # nn.Linear's own bias default is random: unknown below
        if is_norm and not name.endswith(".bias"):
            return InitSpec("ones", 0.0, "ones")
        return InitSpec("unknown", None, "unknown")
    if family is None:
        return InitSpec("unknown", None, "unknown")
    std = init_range if init_range is not None else GPT_INIT_STD
    source = "initializer_range" if init_range is not None and family.name.startswith("hf") else ""
    if any(name.endswith(s) for s in family.residual_scaled) and n_layers:
        scaled = std / math.sqrt(2 * n_layers)
        return InitSpec("normal", scaled, f"normal(0, {std:g}/sqrt(2*{n_layers}))")
    return InitSpec("normal", std, f"normal(0, {std:g}{' ' + source if source else ''})")


def _pytorch_default_candidates(shape: tuple[int, ...]) -> list[InitSpec]:
    """Inits an unknown code base most likely used: GPT-style, nn.Linear and nn.Embedding defaults."""
    fan_in = shape[1] if len(shape) > 1 else shape[0]
    return [InitSpec("normal", GPT_INIT_STD, "normal(0, 0.02)"),
            InitSpec("uniform", 1 / math.sqrt(3 * fan_in), "nn.Linear default (kaiming uniform)"),
            InitSpec("normal", 1.0, "nn.Embedding default normal(0, 1)")]


# ----------------------------------------------------------------- statistics

def _sample_rows(rows: int, row_len: int, budget: int = SAMPLE_ELEMENTS) -> list[int]:
    """Up to ``budget`` values as whole rows, in SAMPLE_BLOCKS evenly spaced runs (few reads, spread out)."""
    k = min(rows, max(8, budget // max(1, row_len)))
    if k >= rows:
        return list(range(rows))
    blocks = min(SAMPLE_BLOCKS, k)
    per, extra = divmod(k, blocks)
    picked: list[int] = []
    for b in range(blocks):
        size = per + (b < extra)
        start = round(b * (rows - size) / max(1, blocks - 1))
        picked.extend(range(start, start + size))
    return sorted(set(picked))


@dataclass
class MatrixStats:
    rows: int
    cols: int
    mean: float
    std: float
    excess_kurtosis: float
    spectral_ratio: float | None
    row_spread_ratio: float | None
    finite: bool


def matrix_stats(sample) -> MatrixStats:
    """Shape statistics of a (rows, cols) float32 sample."""
    import torch

    k, n = sample.shape
    if not math.isfinite(float(sample.sum())) and not bool(torch.isfinite(sample).all()):
        return MatrixStats(k, n, math.nan, math.nan, math.nan, None, None, False)
    x = sample.double() if sample.numel() < 4096 else sample
    mean = float(x.mean())
    centred = x - mean
    squares = centred * centred
    variance = float(squares.mean())
    std = math.sqrt(variance)
    if std == 0.0:
        return MatrixStats(k, n, mean, 0.0, 0.0, None, None, True)
    kurt = float((squares * squares).mean()) / (variance * variance) - 3.0
    spectral = None
    if min(k, n) >= 4:
        g = torch.Generator().manual_seed(0)
        v = torch.randn(n, generator=g, dtype=centred.dtype)
        for _ in range(POWER_ITERATIONS):
            v = centred.t() @ (centred @ v)
            v = v / v.norm()
        top = float((centred @ v).norm())
        spectral = top / (std * (math.sqrt(k) + math.sqrt(n)))
    spread = None
    if k >= 4 and n >= 4:
        norms = squares.sum(dim=1).sqrt()
        cv = float(norms.std() / norms.mean())
        expected = 0.5 * math.sqrt(max(kurt + 2.0, 0.1) / n)
        spread = cv / expected
    return MatrixStats(k, n, mean, std, kurt, spectral, spread, True)


def init_reasons(stats: MatrixStats, spec: InitSpec, t: Thresholds) -> list[str]:
    """Tests a matrix fails against ``spec``; empty means indistinguishable from that init."""
    z = t.init_z_max
    n_values = stats.rows * stats.cols
    reasons = []
    if spec.std:
        ratio = stats.std / spec.std
        if abs(ratio - 1) > max(t.init_std_tolerance, z / math.sqrt(2 * n_values)):
            reasons.append(f"std {ratio:.2f}x init")
    expected_kurt = -1.2 if spec.kind == "uniform" else 0.0
    if spec.kind == "unknown":
        expected_kurt = min((0.0, -1.2), key=lambda e: abs(stats.excess_kurtosis - e))
    if abs(stats.excess_kurtosis - expected_kurt) > z * math.sqrt(24 / n_values):
        reasons.append(f"excess kurtosis {stats.excess_kurtosis:+.2f}")
    if abs(stats.mean) > z * stats.std / math.sqrt(n_values) and abs(stats.mean) > 1e-3 * stats.std:
        reasons.append(f"mean {stats.mean:+.2g}")
    if stats.spectral_ratio is not None and stats.spectral_ratio > t.init_spectral_ratio_max:
        reasons.append(f"spectral ratio {stats.spectral_ratio:.2f}")
    if stats.row_spread_ratio is not None and stats.rows > 1:
        if abs(stats.row_spread_ratio - 1) > z * math.sqrt(1 / (2 * (stats.rows - 1))):
            reasons.append(f"row-norm spread {stats.row_spread_ratio:.2f}x iid")
    return reasons


def _judge_matrix(name: str, ref: TensorRef, spec: InitSpec, t: Thresholds, health: TensorHealth) -> None:
    rows = ref.shape[0]
    row_len = ref.numel // rows if rows else 0
    picked = _sample_rows(rows, row_len)
    sample = ref.rows(picked)
    stats = matrix_stats(sample)
    health.rows_sampled, health.rows_total = len(picked), rows
    if not stats.finite:
        health.verdict, health.reasons = "nonfinite", ["NaN or Inf in the sampled rows"]
        return
    health.mean, health.std = stats.mean, stats.std
    health.excess_kurtosis, health.spectral_ratio = stats.excess_kurtosis, stats.spectral_ratio
    health.row_spread_ratio = stats.row_spread_ratio
    if stats.std == 0.0:
        health.verdict, health.reasons = "constant", [f"every value is {stats.mean:g}"]
        return
    candidates = [spec] if spec.kind != "unknown" else _pytorch_default_candidates(ref.shape)
    best_reasons = None
    for candidate in candidates:
        reasons = init_reasons(stats, candidate, t)
        if best_reasons is None or len(reasons) < len(best_reasons):
            best_reasons, spec = reasons, candidate
    health.init, health.init_std = spec.label, spec.std
    health.std_ratio = stats.std / spec.std if spec.std else None
    health.reasons = best_reasons or []
    health.verdict = "trained" if best_reasons else "init"


def _judge_vector(ref: TensorRef, spec: InitSpec, health: TensorHealth) -> None:
    import torch

    values = ref.load().float().reshape(-1)
    health.rows_sampled = health.rows_total = 1
    if not bool(torch.isfinite(values).all()):
        health.verdict, health.reasons = "nonfinite", ["NaN or Inf"]
        return
    health.mean = float(values.mean()) if values.numel() else None
    health.std = float(values.std(unbiased=False)) if values.numel() else None
    health.init = spec.label
    if spec.kind in ("ones", "zeros"):
        target = 1.0 if spec.kind == "ones" else 0.0
        moved = int((values != target).sum())
        health.verdict = "init" if moved == 0 else "trained"
        if moved:
            health.reasons = [f"{moved} of {values.numel()} values differ from {target:g}"]
    else:
        health.verdict = "unchecked"
        health.reasons = ["no known init for this vector"]


# --------------------------------------------------------------- frozen rows

def _row_blocks(rows: int, row_len: int, itemsize: int, budget: int = 16 << 20):
    per = max(1, budget // max(1, row_len * itemsize))
    for start in range(0, rows, per):
        yield list(range(start, min(rows, start + per)))


def frozen_rows_from_optimizer(emb: TensorRef, exp_avg_sq: TensorRef, source: str) -> FrozenRows:
    """Rows whose second-moment estimate is exactly zero never received a gradient."""
    rows, row_len = emb.shape[0], emb.numel // emb.shape[0]
    never: list[int] = []
    for block in _row_blocks(rows, row_len, exp_avg_sq.itemsize):
        values = exp_avg_sq.rows(block)
        zero = (values.abs().amax(dim=1) == 0).nonzero().flatten()
        never.extend(block[0] + int(i) for i in zero)
    return FrozenRows(method="optimizer", count=len(never), rows_checked=rows, vocab_size=rows, source=source,
                      first_ids=never[:10])


def frozen_rows_from_statistics(emb: TensorRef, init_std: float | None, t: Thresholds,
                                label: str) -> tuple[FrozenRows | None, int]:
    """Estimate of rows still i.i.d. init noise; also returns the number of all-zero rows."""
    import torch

    rows, row_len = emb.shape[0], emb.numel // emb.shape[0]
    if rows < 8 or row_len < 8:
        return None, 0
    picked = _sample_rows(rows, row_len, EMBEDDING_ROW_BYTES // 4)
    stds = torch.empty(len(picked))
    position = 0
    for block_start in range(0, len(picked), 4096):
        block = picked[block_start:block_start + 4096]
        values = emb.rows(block)
        stds[position:position + len(block)] = values.std(dim=1, unbiased=False)
        position += len(block)
    zero_rows = int((stds == 0).sum())
    scale = rows / len(picked)
    live = (stds > 0).nonzero().flatten()
    if live.numel() < 8:
        return None, round(zero_rows * scale)
    logs = stds[live].log()
    order = torch.argsort(logs)
    sorted_logs = logs[order]
    width = 2 * CLUSTER_HALF_WIDTH / math.sqrt(2 * row_len)
    ends = torch.searchsorted(sorted_logs, sorted_logs + width, right=True)   # exclusive window ends
    starts = torch.arange(len(order))
    available = torch.ones(len(order), dtype=torch.bool)
    for _ in range(3):   # the three densest tight groups, densest first
        cumulative = torch.cat([torch.zeros(1, dtype=torch.long), available.long().cumsum(0)])
        counts = cumulative[ends] - cumulative[starts]
        counts[~available] = -1
        i = int(counts.argmax())
        count, j = int(counts[i]), int(ends[i]) - 1
        best = (count, i, j) if count >= 8 else None
        if best is None:
            break
        count, i, j = best
        window = torch.arange(i, j + 1)[available[i:j + 1]]
        members = sorted(picked[k] for k in live[order[window]].tolist())
        available[i:j + 1] = False
        cluster_std = float(torch.exp(sorted_logs[window].mean()))
        if init_std is not None and cluster_std > init_std * (1 + t.init_std_tolerance):
            continue   # weight decay only shrinks a row that gets no gradient
        stride = max(1, len(members) // CLUSTER_SAMPLE_ROWS)
        sample = emb.rows(members[::stride][:CLUSTER_SAMPLE_ROWS])
        stats = matrix_stats(sample)
        spec = InitSpec("normal", None, "iid")
        if init_reasons(stats, spec, t):
            continue
        return FrozenRows(method="statistics", count=round(len(members) * scale), rows_checked=rows,
                          vocab_size=rows, source=f"{label}: per-row std of {len(picked)} rows",
                          cluster_std=cluster_std, init_std=init_std, first_ids=members[:10]), \
            round(zero_rows * scale)
    return FrozenRows(method="statistics", count=0, rows_checked=rows, vocab_size=rows,
                      source=f"{label}: per-row std of {len(picked)} rows", init_std=init_std), \
        round(zero_rows * scale)


# -------------------------------------------------------------------- driver

def _layer_table(tensors: list[TensorHealth]) -> list[LayerHealth]:
    def order(label: str) -> tuple:
        return (0, 0) if label == "embedding" else (1, int(label)) if label.isdigit() else (
            (2, 0) if label == "final" else (3, 0))

    out = []
    for label in sorted({t.layer for t in tensors}, key=order):
        members = [t for t in tensors if t.layer == label]
        matrices = [t for t in members if t.kind == "matrix" and t.verdict in ("init", "trained", "constant")]
        ratios = [t.std_ratio for t in matrices if t.std_ratio is not None]
        spectral = [t.spectral_ratio for t in matrices if t.spectral_ratio is not None]
        judged = [t for t in members if t.verdict in ("init", "trained", "constant", "nonfinite")]
        n_init = sum(t.verdict == "init" for t in judged)
        verdict = ("nonfinite" if any(t.verdict == "nonfinite" for t in judged) else
                   "unknown" if not judged else "init" if n_init == len(judged) else
                   "trained" if n_init == 0 else "partly-init")
        out.append(LayerHealth(layer=label, n_matrices=len(matrices), n_init=sum(t.verdict == "init" for t in matrices),
                               n_params=sum(math.prod(t.shape) for t in members),
                               mean_std_ratio=sum(ratios) / len(ratios) if ratios else None,
                               max_spectral_ratio=max(spectral) if spectral else None, verdict=verdict))
    return out


def check_health(weights: dict[str, TensorRef], arch: Architecture, t: Thresholds, *,
                 other_tensors: dict[str, TensorRef] | None = None, init_range: float | None = None,
                 optimizer_embedding_state: tuple[TensorRef, str] | None = None, label: str = "weights",
                 full_scan: bool = False, progress: Progress | None = None) -> HealthFacts:
    """Judge every weight tensor, scan for NaN/Inf, look for embedding rows that never moved.

    Weights are scanned for NaN/Inf in full.  The other tensors (optimizer
    state: twice the weights in an AdamW checkpoint) are scanned in full only
    with ``full_scan``; otherwise the first 16 MiB of each, which keeps inspect's
    time flat as checkpoints grow (a NaN step poisons the weights as well).
    """
    family = detect_family(weights)
    n_layers = arch.get("n_layers") or 0
    seen: set = set()
    tensors: list[TensorHealth] = []
    params = [(n, r) for n, r in weights.items() if not is_buffer(n, r)]
    others = list((other_tensors or {}).items())
    total = len(params) + len(others)
    done = 0
    for name, ref in params:
        done += 1
        if ref.identity in seen:
            continue
        seen.add(ref.identity)
        spec = expected_init(name, ref.shape, family, n_layers, init_range)
        kind = "matrix" if len(ref.shape) >= 2 else ("bias" if name.endswith(".bias") else
                                                      "norm" if spec.kind == "ones" else "vector")
        health = TensorHealth(name=name, shape=ref.shape, dtype=ref.dtype, layer=layer_of(name, family), kind=kind,
                              verdict="unchecked", init=spec.label, init_std=spec.std)
        if not ref.is_float or ref.numel == 0:
            health.reasons = [f"{ref.dtype} tensor: not judged"]
        elif kind == "matrix":
            _judge_matrix(name, ref, spec, t, health)
        else:
            _judge_vector(ref, spec, health)
        tensors.append(health)
        if progress:
            progress(done, total)

    nonfinite: list[NonFinite] = []
    to_scan: list[tuple[str, TensorRef, bool]] = []
    scanned_ids: set = set()
    for is_weight, group in ((True, params), (False, others)):
        for name, ref in group:
            if ref.identity not in scanned_ids:
                scanned_ids.add(ref.identity)
                to_scan.append((name, ref, is_weight))
    # pread and the sums release the GIL: two threads keep both cores busy on a large file
    with ThreadPoolExecutor(max_workers=SCAN_THREADS) as pool:
        def scan(item):
            return nonfinite_counts(item[1], None if (item[2] or full_scan) else 1)

        for (name, ref, is_weight), (nan, inf) in zip(to_scan, pool.map(scan, to_scan)):
            if nan or inf:
                nonfinite.append(NonFinite(name=name, nan=nan, inf=inf, is_weight=is_weight))
            if progress and not is_weight:
                done += 1
                progress(done, total)
    scanned = len(to_scan)
    scanned_bytes = sum(ref.nbytes if (is_weight or full_scan) else min(ref.nbytes, CHUNK_BYTES)
                        for _, ref, is_weight in to_scan)

    matrices = [h for h in tensors if h.kind == "matrix" and h.verdict in ("init", "trained", "constant")]
    n_init = sum(h.verdict == "init" for h in matrices)
    share = n_init / len(matrices) if matrices else 0.0
    verdict = ("unknown" if not matrices else "init" if share >= t.init_matrix_fraction else
               "trained" if n_init == 0 else "partly-init")
    health = HealthFacts(verdict=verdict, matrices_checked=len(matrices), matrices_init=n_init, tensors=tensors,
                         layers=_layer_table(tensors), sample_rows_max=SAMPLE_ELEMENTS,
                         sampled=any((h.rows_sampled or 0) < (h.rows_total or 0) for h in tensors),
                         nonfinite=nonfinite, tensors_scanned=scanned, bytes_scanned=scanned_bytes,
                         full_scan=full_scan or not others)

    emb_name = arch.embedding_name
    emb = weights.get(emb_name) if emb_name else None
    # only an untied embedding can keep frozen rows: a tied one gets the output layer's gradient in every row
    if emb is not None and len(emb.shape) == 2 and emb.is_float and arch.get("tied_output") is False:
        if optimizer_embedding_state is not None:
            health.frozen_rows = frozen_rows_from_optimizer(emb, *optimizer_embedding_state)
        else:
            spec = expected_init(emb_name, emb.shape, family, n_layers, init_range)
            health.frozen_rows, health.zero_rows = frozen_rows_from_statistics(emb, spec.std, t, label)
    return health
