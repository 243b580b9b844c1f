"""Which format a log is in, and parsing it.

Detection reads only the head of the file (a few hundred KB at most) and
asks every format how well it fits; the best score wins, ties go to the
earlier format in :data:`FORMATS`.  ``format_hint`` skips detection.
"""

from __future__ import annotations

from pathlib import Path

from tsdiag.errors import InputError
from tsdiag.logs.csv_table import CsvFormat
from tsdiag.logs.facts import LossCurve
from tsdiag.logs.hf_trainer import FILENAME as HF_STATE, HFTrainerStateFormat
from tsdiag.logs.interface import LogFormat
from tsdiag.logs.jsonl_records import JsonlFormat
from tsdiag.logs.llama2c import Llama2cFormat
from tsdiag.logs.nanogpt import NanoGPTFormat
from tsdiag.logs.steppipe import StepPipeFormat

FORMATS: tuple[LogFormat, ...] = (
    Llama2cFormat(),
    NanoGPTFormat(),
    StepPipeFormat(),
    HFTrainerStateFormat(),
    CsvFormat(),
    JsonlFormat(),
)

HEAD_BYTES = 256 * 1024
HEAD_LINES = 2000


def format_names() -> list[str]:
    return [f.name for f in FORMATS]


def format_description(name: str) -> str:
    """The one-line description of a known format, "" for any other name."""
    return next((f.description for f in FORMATS if f.name == name), "")


def get_format(name: str) -> LogFormat:
    for fmt in FORMATS:
        if fmt.name == name.strip().lower():
            return fmt
    raise InputError(name, f"unknown log format (known: {', '.join(format_names())})")


def read_head(path: Path) -> list[str]:
    """The first lines of ``path`` (a complete last line only), or an InputError for binary data."""
    with open(path, "rb") as fh:
        raw = fh.read(HEAD_BYTES)
        truncated = bool(fh.read(1))
    if b"\x00" in raw:
        raise InputError(path, "binary data, not a text training log (a checkpoint or a token shard?)")
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if truncated and len(lines) > 1:
        lines.pop()  # cut mid-line
    return lines[:HEAD_LINES]


def _resolve(path: Path) -> Path:
    if not path.exists():
        raise InputError(path, "no such file or directory")
    if path.is_dir():
        for name in (HF_STATE, "metrics.csv"):  # a Hugging Face checkpoint folder, a tsdiag run folder
            if (path / name).is_file():
                return path / name
        raise InputError(path, f"a folder, not a log file (a Hugging Face checkpoint folder would hold {HF_STATE}, "
                               "a tsdiag run folder metrics.csv)")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    return path


def detect_format(path: str | Path) -> LogFormat:
    """The format whose sniffer fits the head of ``path`` best; InputError listing the formats when none does."""
    path = _resolve(Path(path))
    head = read_head(path)
    score, _, best = max((fmt.sniff(path, head), -i, fmt) for i, fmt in enumerate(FORMATS))
    if score <= 0:
        understood = ", ".join(f"{f.name} ({f.description})" for f in FORMATS)
        raise InputError(path, f"no known training-log format in its first {len(head):,} lines; formats understood: "
                               f"{understood}; force one with --format-hint NAME")
    return best


def parse_log(path: str | Path, format_hint: str | None = None) -> LossCurve:
    """Parse a training log into a :class:`LossCurve`, detecting its format unless ``format_hint`` names one."""
    path = _resolve(Path(path))
    fmt = get_format(format_hint) if format_hint else detect_format(path)
    curve = fmt.parse(path)
    if not curve.has_losses:
        held = "; the last line has no line end and was left out" if curve.partial_last_line else ""
        raise InputError(path, f"read as {fmt.name} but no loss values found "
                               f"({curve.total_lines:,} lines, none with a step and a loss{held})")
    return curve
