"""Time `tsdiag logs` parsing and analysis on long synthetic logs of every format (CPU).

For each format a log of --lines lines (or records) is written to a temporary
folder in the shape its trainer writes: llama2.c and nanoGPT step lines with an
eval line every 2,000 steps, the article-weighted trainer's Step/Article line
pairs behind Python logging prefixes, a trainer_state.json, tsdiag's
metrics.csv columns, and JSON Lines.  Each is then parsed (`parse_log`, format
detection included) and analysed (`analyze_curve`) --repeats times in this
process; the table gives the median seconds, lines per second and the peak
memory Python allocated while parsing (tracemalloc, a separate run).

Usage:

    python3 benchmarks/bench_logs.py                  # 1,000,000 lines per format
    python3 benchmarks/bench_logs.py --lines 20000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from tsdiag.logs import analyze_curve, parse_log

PREFIX = "2025-10-26 02:12:34 - INFO - main - "


def _loss(i: int) -> float:
    return 1.3 + 5.0 * math.exp(-i / 50_000) + 0.05 * math.sin(i * 0.7)


def _write_llama2c(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            if i % 2000 == 0:
                fh.write(f"step {i}: train loss {_loss(i):.4f}, val loss {_loss(i) + 0.05:.4f}\n")
            fh.write(f"{i} | loss {_loss(i):.4f} | lr {5e-4:e} | 80.00ms | mfu 40.00%\n")


def _write_nanogpt(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            if i % 2000 == 0:
                fh.write(f"step {i}: train loss {_loss(i):.4f}, val loss {_loss(i) + 0.05:.4f}\n")
            fh.write(f"iter {i}: loss {_loss(i):.4f}, time 80.00ms, mfu 40.00%\n")


def _write_step_pipe(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n // 2):
            fh.write(f"{PREFIX}Step {i} | Loss: {_loss(i):.4f} (↓ Improving)\n")
            fh.write(f"{PREFIX}Article Loss: 4.55 | Other Loss: {_loss(i) + 1:.2f} | Ratio: 0.45x\n")


def _write_hf(path: Path, n: int) -> None:
    history = [{"epoch": i / n, "grad_norm": 1.0, "learning_rate": 5e-5, "loss": _loss(i), "step": i} for i in range(n)]
    path.write_text(json.dumps({"global_step": n, "max_steps": n, "log_history": history}, indent=2))


def _write_csv(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        fh.write("step,tokens,loss,article_loss,other_loss,ratio,lr,grad_norm,ms_per_step,tokens_per_s,mfu,"
                 "val_loss,val_article_loss,val_other_loss,val_ratio\n")
        for i in range(n):
            fh.write(f"{i},{i * 8192},{_loss(i):.6g},1.5,2.5,0.6,0.0005,1.0,80,100000,0.4,,,,\n")


def _write_jsonl(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"step": i, "loss": _loss(i), "lr": 5e-4, "article_loss": 1.5, "other_loss": 2.5}) + "\n")


WRITERS = {
    "llama2c": ("train.log", _write_llama2c),
    "nanogpt": ("train.txt", _write_nanogpt),
    "step-pipe": ("run.log", _write_step_pipe),
    "hf-trainer": ("trainer_state.json", _write_hf),
    "csv": ("metrics.csv", _write_csv),
    "jsonl": ("metrics.jsonl", _write_jsonl),
}


def measure(path: Path, repeats: int) -> dict:
    parse_s, analyze_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        curve = parse_log(path)
        parse_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        analyze_curve(curve)
        analyze_s.append(time.perf_counter() - start)
    del curve
    tracemalloc.start()
    curve = parse_log(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"format": curve.format, "lines": curve.total_lines, "points": len(curve.train),
            "mb": path.stat().st_size / 1e6, "parse_s": statistics.median(parse_s),
            "analyze_s": statistics.median(analyze_s), "peak_mb": peak / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (filename, write) in WRITERS.items():
            path = Path(tmp) / filename
            write(path, args.lines)
            rows.append(measure(path, args.repeats))
            path.unlink()
    print(f"tsdiag logs: {args.lines:,} lines per format, median of {args.repeats}")
    print(f"{'format':<11} {'file MB':>8} {'lines':>10} {'points':>10} {'parse s':>8} {'lines/s':>11} "
          f"{'analyze s':>9} {'peak MB':>8}")
    for r in rows:
        print(f"{r['format']:<11} {r['mb']:>8.1f} {r['lines']:>10,} {r['points']:>10,} {r['parse_s']:>8.2f} "
              f"{r['lines'] / r['parse_s']:>11,.0f} {r['analyze_s']:>9.3f} {r['peak_mb']:>8.1f}")


if __name__ == "__main__":
    main()
