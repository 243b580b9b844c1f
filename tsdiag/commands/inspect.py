"""``tsdiag inspect``: what a checkpoint really is, read safely."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tsdiag.commands._common import OutputOptions, emit, existing_paths, report_command


@report_command
def inspect(
    paths: Annotated[list[Path], typer.Argument(help="Checkpoint files, Hugging Face folders, or folders of checkpoints.")],
    config: Annotated[Optional[Path], typer.Option("--config", help="Training config (YAML/JSON) supplying settings the checkpoint lacks.")] = None,
    unsafe_pickle: Annotated[bool, typer.Option("--unsafe-pickle", help="DANGEROUS: unpickle arbitrary objects (weights_only=False). Only for files you trust.")] = False,
    no_health: Annotated[bool, typer.Option("--no-health", help="Skip reading weight values (no init check, no NaN/Inf scan).")] = False,
    full_scan: Annotated[bool, typer.Option("--full-scan", help="Scan all optimizer state for NaN/Inf too (weights are always scanned in full).")] = False,
    layers: Annotated[bool, typer.Option("--layers", help="Add the per-tensor health table.")] = False,
    tokenizer: Annotated[Optional[Path], typer.Option("--tokenizer", "-t", help="Tokenizer of the model: val loss also in bits per byte; byte-fallback rows are not called frozen; weighted ids are decoded.")] = None,
    article_ids: Annotated[Optional[str], typer.Option("--article-ids", help="Comma-separated ids the run's weighted loss up-weighted (default: the ones its config records); checked against --tokenizer.")] = None,
    *,
    out: OutputOptions,
) -> None:
    """Read checkpoints safely and report format, architecture, training state, hyperparameters, weight health.

    Reads torch.save files (llama2.c, nanoGPT, Lightning, custom trainer dicts, bare state dicts),
    .safetensors, Hugging Face model and Trainer checkpoint-N folders, and llama2.c .bin exports.
    A folder that is not a Hugging Face folder lists its checkpoints by step.

    Examples:

      tsdiag inspect out/ckpt.pt

      tsdiag inspect out/ckpt.pt --config train.yaml --json

      tsdiag inspect runs/checkpoint-500 runs/checkpoint-1000 --markdown

      tsdiag inspect out/

      tsdiag inspect out/ckpt.pt --tokenizer tok512.model --article-ids 262,263,278
    """
    from tsdiag.checks import checkpoint as checkpoint_check
    from tsdiag.checkpoint.hf_folder import is_hf_folder
    from tsdiag.checkpoint.inspection import inspect_directory
    from tsdiag.commands._common import load_optional_tokenizer, parse_ids
    from tsdiag.checkpoint.present import directory_report, inspection_report, summary_report
    from tsdiag.report import make_console

    existing_paths(paths)
    if config is not None:
        existing_paths([config])
    if unsafe_pickle:
        make_console(stderr=True).print(
            "[bold red]WARNING: --unsafe-pickle: unpickling with weights_only=False can run arbitrary code "
            "from these files. Use it only for checkpoints you trust.[/]", markup=True, highlight=False)
    thresholds = out.thresholds()
    ids = parse_ids(article_ids) if article_ids is not None else None
    tok = load_optional_tokenizer(tokenizer)
    reports, inspections = [], []
    for path in paths:
        if path.is_dir() and not is_hf_folder(path):
            reports.append(directory_report(inspect_directory(path, allow_unsafe_pickle=unsafe_pickle)))
            continue
        with _progress(out, path) as progress:
            result = checkpoint_check.run(path, config=config, thresholds=thresholds,
                                          allow_unsafe_pickle=unsafe_pickle, health=not no_health,
                                          full_scan=full_scan, progress=progress, tokenizer=tok,
                                          article_ids=ids).facts
        inspections.append(result)
        reports.append(inspection_report(result, layers=layers))
    if len(inspections) > 1:
        reports.insert(0, summary_report(inspections))
    emit(reports, out)


class _progress:
    """A rich progress bar over the health pass, only for a person at a terminal."""

    def __init__(self, out: OutputOptions, path: Path):
        self.out, self.path, self.bar, self.task = out, path, None, None

    def __enter__(self):
        if not self.out.interactive:
            return None
        from rich.progress import Progress

        from tsdiag.report import make_console

        self.bar = Progress(console=make_console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task(f"checking {self.path.name}", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
