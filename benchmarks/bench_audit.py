"""Audit throughput on a large uint16 shard, against a bare numpy pass over the same file.

One run does the whole measurement:

1. builds a shard of ``--gb`` gigabytes of uint16 tokens (default 1.0): real
   TinyStories stories from ../shared/data, tokenized with the Llama 2
   tokenizer (BOS per story, as llama2.c's pretokenize writes them), drawn in
   random order with replacement; without ../shared/data, Zipf-distributed ids
   over 32,000 and no tokenizer (article scan skipped, said so);
2. reads it once so both contenders start from the page cache;
3. times, in separate child processes (so peak RSS is each one's own), the bare
   passes — ``np.bincount`` (what any coverage count needs) and ``sum`` over the
   memmap in 4M-token chunks — and ``tsdiag.audit_shards`` with one worker,
   ``--repeats`` rounds of all of them in turn, and reports medians;
4. runs the audit on a quarter of the shard too: flat memory means the same
   peak RSS at both sizes;
5. runs it on a one-window shard, to show the fixed cost of an audit (loading
   the tokenizer, building the article tables) apart from the per-token rate.

Targets (issue 3): >= 200 M tokens/s per core; <= 3x the bare bincount pass.

    python benchmarks/bench_audit.py            # 1 GB
    python benchmarks/bench_audit.py --gb 0.05  # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout, or shared/data inside it (how the GPU machines carry it)
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data") if p.is_dir()),
              ROOT.parent / "shared" / "data")
TOKENIZER = SHARED / "tokenizers" / "llama2_tokenizer.model"
STORIES = SHARED / "tinystories" / "mini_gpt_stories.txt"
CHUNK = 1 << 22

_CHILD = r"""
import json, resource, sys, time
import numpy as np
what, path, tokenizer = sys.argv[1], sys.argv[2], sys.argv[3] or None
mm = np.memmap(path, dtype=np.uint16, mode="r")
if what.startswith("audit"):
    from tsdiag.data.audit import audit_shards  # import outside the clock; tokenizer loading is inside
t0 = time.perf_counter()
if what == "bincount":
    counts = np.zeros(1 << 16, dtype=np.int64)
    for a in range(0, mm.size, %(chunk)d):
        counts += np.bincount(mm[a:a + %(chunk)d], minlength=1 << 16)
elif what == "sum":
    total = 0
    for a in range(0, mm.size, %(chunk)d):
        total += int(mm[a:a + %(chunk)d].sum())
else:
    result = audit_shards([path], tokenizer=tokenizer, seq_len=512, workers=int(what.split(":")[1]))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "tokens": int(mm.size),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""" % {"chunk": CHUNK}


def _real_stories() -> tuple[list[np.ndarray], str] | None:
    """Token arrays of real TinyStories stories (BOS first), and the tokenizer path."""
    if not (TOKENIZER.is_file() and STORIES.is_file()):
        return None
    from tsdiag.data.shards import encode_stories, iter_text_stories
    from tsdiag.tokenizer import load_tokenizer

    tok = load_tokenizer(TOKENIZER)
    stories = [encode_stories(tok, [s]) for batch in iter_text_stories(STORIES) for s in batch]
    return stories, str(TOKENIZER)


def build_shard(path: Path, tokens: int, seed: int = 0) -> str | None:
    """Real stories in random order (with replacement); without shared data, Zipf-distributed ids."""
    rng = np.random.default_rng(seed)
    real = _real_stories()
    with open(path, "wb") as fh:
        written = 0
        if real is not None:
            stories, tokenizer = real
            pool = np.concatenate(stories)
            starts = np.concatenate(([0], np.cumsum([len(s) for s in stories])))
            while written < tokens:
                pick = rng.integers(0, len(stories), size=4096)
                chunk = np.concatenate([pool[starts[i]:starts[i + 1]] for i in pick])[: tokens - written]
                fh.write(chunk.astype(np.uint16).tobytes())
                written += chunk.size
            return tokenizer
        ranks = np.arange(1, 32001, dtype=np.float64)
        cdf = np.cumsum(1 / ranks ** 1.1)
        while written < tokens:
            n = min(CHUNK, tokens - written)
            fh.write(np.searchsorted(cdf, rng.random(n) * cdf[-1]).astype(np.uint16).tobytes())
            written += n
    return None


def measure(what: str, path: Path, tokenizer: str | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _CHILD, what, str(path), tokenizer or ""],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="shard size in GB (uint16: 500M tokens per GB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="also time the audit with this many workers")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the shard (default: a temp folder)")
    args = parser.parse_args()

    tokens = int(args.gb * 1e9) // 2
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        full, quarter, tiny = Path(tmp) / "shard.bin", Path(tmp) / "quarter.bin", Path(tmp) / "tiny.bin"
        t0 = time.perf_counter()
        tokenizer = build_shard(full, tokens)
        with open(full, "rb") as src, open(quarter, "wb") as dst, open(tiny, "wb") as one:
            dst.write(src.read(tokens // 4 * 2))
            src.seek(0)
            one.write(src.read(2 * 513 * 2))  # two llama2c windows of 512: one is audited
        print(f"built {full.stat().st_size / 1e9:.2f} GB ({tokens:,} tokens) in {time.perf_counter() - t0:.1f} s; "
              f"tokenizer: {tokenizer or 'none (no ../shared/data: article scan skipped)'}")
        for path in (full, quarter):  # warm the page cache
            with open(path, "rb") as fh:
                while fh.read(1 << 26):
                    pass

        contenders = ["bincount", "sum", "audit:1"] + ([f"audit:{args.workers}"] if args.workers > 1 else [])
        runs = {what: [] for what in contenders}
        for _ in range(args.repeats):  # interleaved: a slower spell of a shared machine hits every contender
            for what in contenders:
                runs[what].append(measure(what, full, tokenizer))
        rows = {
            what: {"seconds": float(np.median([r["seconds"] for r in got])),
                   "peak_rss_mb": float(np.median([r["peak_rss_mb"] for r in got]))}
            for what, got in runs.items()
        }
        small = measure("audit:1", quarter, tokenizer)
        fixed = float(np.median([measure("audit:1", tiny, tokenizer)["seconds"] for _ in range(args.repeats)]))

    base = rows["bincount"]["seconds"]
    print(f"\n{'pass':<16}{'median s':>10}{'M tokens/s':>12}{'per core':>10}{'x bincount':>12}{'peak RSS MB':>13}")
    for what, row in rows.items():
        cores = int(what.split(":")[1]) if what.startswith("audit:") else 1
        rate = tokens / row["seconds"] / 1e6
        print(f"{what:<16}{row['seconds']:>10.3f}{rate:>12.0f}{rate / cores:>10.0f}{row['seconds'] / base:>12.2f}"
              f"{row['peak_rss_mb']:>13.0f}")
    print(f"\npeak RSS of audit:1 at {tokens // 4:,} tokens: {small['peak_rss_mb']:.0f} MB, "
          f"at {tokens:,} tokens: {rows['audit:1']['peak_rss_mb']:.0f} MB (flat memory: about equal)")
    streaming = rows["audit:1"]["seconds"] - fixed
    print(f"fixed cost of one audit (tokenizer, article tables; one-window shard): {fixed:.3f} s; "
          f"audit:1 without it: {tokens / streaming / 1e6:.0f} M tokens/s, {streaming / base:.2f}x bincount")
    audit_rate = tokens / rows["audit:1"]["seconds"] / 1e6
    print(f"targets: >= 200 M tokens/s per core -> {audit_rate:.0f}; "
          f"<= 3x bincount -> {rows['audit:1']['seconds'] / base:.2f}x")


if __name__ == "__main__":
    main()
