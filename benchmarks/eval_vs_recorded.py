"""Does `tsdiag eval` reproduce the val loss each peer trainer recorded? One row per accuracy-corpus case.

For every built case of benchmarks/accuracy_cases.py whose checkpoint tsdiag can run, the checkpoint
is evaluated on the run's own val split (llama2.c and the HF Trainer case: shard 0, the one they validate
on; nanoGPT: val.bin) with the layout and sequence
length of that command, and compared with the val loss the trainer saved with the checkpoint.

    python benchmarks/eval_vs_recorded.py            # build the corpus first: python benchmarks/accuracy.py --build-only
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy_cases import CASES, case_dir  # noqa: E402


def _option(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]


def _val_data(folder: Path, data: list[str], layout: str) -> Path | None:
    first = folder / data[0]
    if layout == "nanogpt" and (first.parent / "val.bin").is_file():
        return first.parent / "val.bin"
    if (first.parent / "data00.bin").is_file():  # llama2.c's val shard (the HF Trainer case evaluates on it too)
        return first.parent / "data00.bin"
    return first


def main() -> None:
    import json

    from tsdiag.errors import InputError
    from tsdiag.evaluation import evaluate

    print(f"{'case':<32}{'trainer':<12}{'recorded val':>13}{'evaluated':>11}{'95% interval':>19}{'inside':>8}")
    for case in CASES.values():
        folder = case_dir(case.name)
        record = folder / "case.json"
        if not (folder / "done").is_file() or not record.is_file():
            continue
        meta = json.loads(record.read_text())
        args = meta["diagnose"]
        checkpoints, data = _option(args, "--checkpoint"), _option(args, "--data")
        if len(checkpoints) != 1 or not data:
            continue
        layout = (_option(args, "--layout") or ["llama2c"])[0]
        seq_len = int((_option(args, "--seq-len") or ["0"])[0]) or None
        tokenizer = (_option(args, "--tokenizer") or [None])[0]
        try:
            facts = evaluate(folder / checkpoints[0], [_val_data(folder, data, layout)], layout=layout,
                             seq_len=seq_len, tokenizer=folder / tokenizer if tokenizer else None,
                             reference=False, probes=False)
        except InputError as exc:
            print(f"{case.name:<32}{meta.get('trainer', '?'):<12}  not run: {exc}")
            continue
        saved = [r for r in facts.recorded if r.kind == "checkpoint"]
        loss = facts.data_score.loss
        if not saved:
            print(f"{case.name:<32}{meta.get('trainer', '?'):<12}{'-':>13}{loss.nats:>11.4f}"
                  f"{f'{loss.low:.4f}-{loss.high:.4f}':>19}{'-':>8}")
            continue
        value = saved[0].value
        inside = loss.low <= value <= loss.high
        print(f"{case.name:<32}{meta.get('trainer', '?'):<12}{value:>13.4f}{loss.nats:>11.4f}"
              f"{f'{loss.low:.4f}-{loss.high:.4f}':>19}{'yes' if inside else 'no':>8}")


if __name__ == "__main__":
    main()
