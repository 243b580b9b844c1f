"""``tsdiag demo``: the whole forensic story on a bundled corpus, on a CPU, in a few minutes.

1. write a corpus of simple stories (:mod:`tsdiag.demo.storygen`) and an
   "article-starved" copy of it (every "a", "an", "the" removed — the kind of
   damage a broken preprocessing step does);
2. train a 512-piece sentencepiece tokenizer and write both as uint16 shards;
3. train three tiny reference runs on the good shard: the standard recipe, the
   article-weighted recipe (the popular "fix"), and a deliberately broken run
   with a far too high learning rate and no warmup;
4. diagnose four scenarios and check that each names the expected cause first.

Nothing is downloaded; every file lands in one output folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tsdiag.demo.storygen import corpus_text, generate_corpus

# Tiny enough for a CPU, large enough to learn the corpus within a few hundred steps.
TINY_MODEL = {"dim": 64, "n_layers": 2, "n_heads": 4, "max_seq_len": 128, "batch_size": 16,
              "gradient_accumulation_steps": 1, "learning_rate": 1e-3, "eval_iters": 10}
BROKEN_LR = 0.08  # 80x the 1e-3 ceiling, with no warmup
_ARTICLE = re.compile(r"\b(?:a|an|the)\s+", re.IGNORECASE)


@dataclass
class Scenario:
    name: str
    expected: str          # the hypothesis a correct diagnosis ranks first
    story: str             # what the scenario reproduces
    command: str           # the equivalent tsdiag command line
    diagnosis: object = None

    @property
    def top(self):
        return self.diagnosis.hypotheses[0]

    @property
    def as_expected(self) -> bool:
        """The expected hypothesis ranks first; a healthy scenario (no expectation) has no confirmed row."""
        if not self.expected:
            return all(h.verdict != "confirmed" for h in self.diagnosis.hypotheses)
        return self.top.code == self.expected and self.top.verdict in ("confirmed", "likely")


@dataclass
class DemoResult:
    out: Path
    scenarios: list[Scenario]
    summaries: list            # RunSummary of the standard and weighted runs
    compare_findings: list


def strip_articles(text: str) -> str:
    """The corpus as a broken pipeline might leave it: every article word removed."""
    return _ARTICLE.sub("", text)


def _write_shard(text_path: Path, tokenizer: Path, target: Path) -> None:
    import numpy as np

    from tsdiag.data.shards import load_token_array
    from tsdiag.fileio import atomic_path
    from tsdiag.tokenizer import load_tokenizer

    tokens = load_token_array([text_path], tokenizer=load_tokenizer(tokenizer))
    with atomic_path(target) as tmp:
        np.asarray(tokens, dtype=np.uint16).tofile(tmp)


_MARKER = ".tsdiag-demo"


def _fresh_output_folder(out: Path) -> None:
    """Start from an empty folder; a previous demo's folder (it carries a marker file) is cleared,
    anything else that is not empty is refused rather than overwritten."""
    import shutil

    from tsdiag.errors import InputError

    if out.exists() and any(out.iterdir()):
        if not (out / _MARKER).is_file():
            raise InputError(out, "exists and is not a tsdiag demo folder: choose another --out")
        for child in ("data", "runs"):
            shutil.rmtree(out / child, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text("written by tsdiag demo; the folder is cleared when the demo runs again\n")


def run_demo(out: Path, *, steps: int = 300, stories: int = 2000, device: str = "cpu",
             say: Callable[[str], None] = lambda _msg: None) -> DemoResult:
    """Build everything under ``out`` and diagnose each scenario."""
    import torch

    from tsdiag.compare import read_summary
    from tsdiag.diagnose import DiagnoseInputs, diagnose
    from tsdiag.tokenizer_train import train_sentencepiece
    from tsdiag.train.pair import run_recipes
    from tsdiag.train.runtime import check_device
    from tsdiag.train.setup import prepare_data
    from tsdiag.train_rules import compare_findings
    from tsdiag.thresholds import Thresholds

    check_device(device)
    if device == "cpu":
        torch.set_num_threads(1)  # tiny matrices: more threads only add synchronisation
    _fresh_output_folder(out)
    data_dir, runs = out / "data", out / "runs"
    data_dir.mkdir(parents=True, exist_ok=True)

    say(f"writing {stories:,} stories")
    text = corpus_text(generate_corpus(stories))
    (data_dir / "stories.txt").write_text(text, encoding="utf-8")
    (data_dir / "stories_no_articles.txt").write_text(strip_articles(text), encoding="utf-8")

    say("training a 512-piece tokenizer")
    tokenizer = train_sentencepiece([data_dir / "stories.txt"], data_dir / "tok512.model", vocab_size=512,
                                    threads=1).model
    _write_shard(data_dir / "stories.txt", tokenizer, data_dir / "train.bin")
    _write_shard(data_dir / "stories_no_articles.txt", tokenizer, data_dir / "train_no_articles.bin")

    prepared = prepare_data([data_dir / "train.bin"], tokenizer_path=tokenizer)
    common = {**TINY_MODEL, "max_iters": steps, "eval_interval": max(steps // 3, 1), "device": device,
              "compile": "none"}
    say(f"training the standard and the article-weighted run ({steps} steps each)")
    run_recipes(["standard", "weighted"], prepared, runs, options=common)
    say(f"training a run with learning rate {BROKEN_LR} and no warmup")
    run_recipes(["standard"], prepared, runs / "lr-too-high",
                options={**common, "learning_rate": BROKEN_LR, "warmup_iters": 0})

    t = Thresholds()
    standard, weighted, broken = runs / "standard", runs / "weighted", runs / "lr-too-high" / "standard"
    bins, tok = data_dir / "train.bin", tokenizer
    scenarios = [
        Scenario("healthy standard run", "", "llama2.c's recipe on good data",
                 f"tsdiag diagnose --run {standard} --data {bins} --tokenizer {tok}",
                 diagnose(DiagnoseInputs(runs=[standard], data=[bins], tokenizer=tok, seq_len=128), t)),
        Scenario("article-weighted run", "W", "the popular fix: article targets weighted 5x",
                 f"tsdiag diagnose --run {weighted} --run {standard}",
                 diagnose(DiagnoseInputs(runs=[weighted, standard]), t)),
        Scenario("learning rate too high", "H3", f"lr {BROKEN_LR}, no warmup",
                 f"tsdiag diagnose --run {broken}",
                 diagnose(DiagnoseInputs(runs=[broken]), t)),
        Scenario("article-starved data", "H1", "a preprocessing step dropped every article",
                 f"tsdiag diagnose --data {data_dir / 'train_no_articles.bin'} --tokenizer {tok}",
                 diagnose(DiagnoseInputs(data=[data_dir / "train_no_articles.bin"], tokenizer=tok, seq_len=128), t)),
    ]
    summaries = [read_summary(standard), read_summary(weighted)]
    return DemoResult(out, scenarios, summaries, compare_findings(summaries, t))
