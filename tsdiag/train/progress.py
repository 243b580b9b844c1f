"""What a person sees while a reference run trains: a rich bar on a terminal, plain lines elsewhere.

Progress goes to stderr so that ``--json`` on stdout stays clean.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from tsdiag.findings import format_value

_PLAIN_EVERY_S = 10.0  # seconds between plain progress lines in logs and CI


def _fmt(value: Any) -> str:
    return "-" if value is None else format_value(value)


def _step_text(row: Mapping[str, Any]) -> str:
    return (f"loss {_fmt(row.get('loss'))} | article {_fmt(row.get('article_loss'))} | "
            f"other {_fmt(row.get('other_loss'))} | ratio {_fmt(row.get('ratio'))} | lr {_fmt(row.get('lr'))} | "
            f"{_fmt(row.get('tokens_per_s'))} tok/s")


class ProgressReporter:
    """Callable ``reporter(kind, info)`` for :func:`tsdiag.train.loop.retrain`."""

    def __init__(self, label: str, *, interactive: bool):
        from tsdiag.report import make_console

        self.label = label
        self.interactive = interactive
        self.console = make_console(stderr=True)
        self._progress = None
        self._task = None
        self._last_plain = 0.0

    def __call__(self, kind: str, info: Mapping[str, Any]) -> None:
        getattr(self, f"_on_{kind}")(info)

    def _on_start(self, info) -> None:
        self.console.print(
            f"{self.label}: {format_value(info['n_params'])} parameters on {info['device']} ({info['precision']}, "
            f"{info['world_size']} process(es)), {format_value(info['tokens_per_step'])} tokens/step "
            f"({info['micro_batches_per_forward']} micro-batch(es) per forward pass), "
            f"from step {info['step']} → {info['out_dir']}", highlight=False)
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                                      console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=info["max_iters"], completed=info["step"],
                                                 stats="compiling / first step…")

    def _on_planned(self, info) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=info["max_iters"])
        else:
            self.console.print(f"{self.label}: time budget → {info['max_iters']} steps", highlight=False)

    def _on_log(self, row) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=row["step"], stats=_step_text(row))
        elif time.monotonic() - self._last_plain >= _PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self.console.print(f"{self.label} step {row['step']}: {_step_text(row)}", highlight=False)

    def _on_eval(self, entry) -> None:
        text = (f"{self.label} step {entry['step']}: val loss {_fmt(entry['val_loss'])} (article "
                f"{_fmt(entry['article_loss'])}, other {_fmt(entry['other_loss'])}, ratio {_fmt(entry['ratio'])})")
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        else:
            self.console.print(text, highlight=False)

    def _on_end(self, run) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
