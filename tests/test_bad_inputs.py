"""Bad input, command by command: a missing, empty, truncated, corrupt or wrong-kind file (and an unusable
option value) ends in exit code 2 with one "tsdiag: error:" line naming the file, no traceback, and no
output file left behind.

Every case starts from a small real artifact (built once per session) and breaks one input the way users
break them: a path that is not there, 0 bytes, a folder, random bytes, text where a binary belongs, the
first half of a real file, or another tsdiag input in the wrong place (a model export named like a shard,
a tokenizer given as a checkpoint, ...).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

import ckpt_factory as cf
from data_factory import build_char_meta, build_sp_model, write_shard

RANDOM = bytes(random.Random(0).randrange(256) for _ in range(4096))
TINY_RUN = ["--dim", "16", "--n-layers", "1", "--n-heads", "2", "--seq-len", "16", "--batch-size", "2",
            "--grad-accum", "1", "--eval-iters", "1", "--device", "cpu"]


def _invoke(args):
    from typer.testing import CliRunner

    from tsdiag.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@dataclass
class Art:
    """The good artifacts every case breaks one of."""

    root: Path
    sp: Path
    meta: Path
    ckpt: Path
    hf: Path
    export: Path
    shards: dict[str, Path]
    stories: Path
    log: Path
    config: Path
    run: Path
    trainer_state: Path


@pytest.fixture(scope="session")
def art(tmp_path_factory) -> Art:
    from tsdiag.tokenizer import load_tokenizer

    root = tmp_path_factory.mktemp("bad_inputs_art")
    sp = build_sp_model(root)
    (root / "meta").mkdir()
    meta = build_char_meta(root / "meta")
    tok = load_tokenizer(sp)
    model = cf.Llama2c(vocab_size=tok.vocab_size, dim=32, n_layers=1)
    ckpt = cf.llama2c_checkpoint(root / "ckpt.pt", model)
    hf = cf.hf_folder(root / "hf", model)
    export = cf.llama2c_export(root / "model.bin", model, 1)
    shards = {kind: write_shard(root, kind, tok, name=f"shard_{kind}")
              for kind in ("bin", "npy", "parquet", "arrow", "jsonl_text", "txt")}
    stories = root / "stories.txt"
    stories.write_text(shards["txt"].read_text().replace("<|endoftext|>\n", ""))
    log = root / "train.log"
    log.write_text("".join(f"{i} | loss {4 - i / 100:.4f} | lr 5.000000e-04 | 80.00ms | mfu 40.00%\n"
                           for i in range(1, 120)))
    config = root / "config.yaml"
    config.write_text("learning_rate: 0.0005\nmax_iters: 1000\n")
    trainer_state = root / "trainer_state.json"
    trainer_state.write_text(json.dumps({"global_step": 100, "log_history": [
        {"step": s, "loss": 4 - s / 100, "learning_rate": 5e-4} for s in range(10, 110, 10)]}))
    result = _invoke(["retrain", "--standard", "--data", shards["bin"], "--tokenizer", sp, "--max-iters", "2",
                      "--eval-every", "2", "--out", root / "runs", *TINY_RUN])
    assert result.exit_code == 0, result.output
    return Art(root, sp, meta, ckpt, hf, export, shards, stories, log, config, root / "runs" / "standard",
               trainer_state)


def broken(good: Path, how: str, where: Path) -> Path:
    """``good``'s name in a fresh folder, broken ``how``: missing, empty, dir, random, text, truncated, odd-size."""
    folder = where / f"{how}-{good.name}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / good.name
    if how == "empty":
        path.write_bytes(b"")
    elif how == "dir":
        path.mkdir()
    elif how == "random":
        path.write_bytes(RANDOM)
    elif how == "text":
        path.write_text("hello world\nthis is not it\n")
    elif how == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "odd-size":   # 1001 bytes: half a uint16 token at the end
        path.write_bytes(good.read_bytes()[:1001])
    elif how != "missing":
        raise ValueError(how)
    return path


def copy_as(good: Path, name: str, where: Path) -> Path:
    """``good`` under another name (a file in the wrong place looks like the right kind by name)."""
    target = where / "as" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(good, target)
    return target


def broken_run(art: Art, where: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of the real run folder with one file damaged by ``edit``."""
    folder = where / "runs" / "standard"
    shutil.copytree(art.run, folder)
    edit(folder)
    return folder


@dataclass
class Case:
    args: list
    names: list            # the error line names one of these (file names)
    outputs: list = field(default_factory=list)  # paths that must not exist afterwards


def _good(a: Art, which) -> Path:
    """``which``: an attribute of :class:`Art` ("ckpt", "shards.bin") or a function of it."""
    if callable(which):
        return which(a)
    name, _, key = which.partition(".")
    value = getattr(a, name)
    return value[key] if key else value


def _bad(cmd_builder, which, how):
    """A case factory: the good artifact ``which`` broken ``how``, passed where ``cmd_builder`` puts it."""
    def build(a: Art, t: Path) -> Case:
        path = broken(_good(a, which), how, t)
        return Case(cmd_builder(a, path, t), [path.name])
    return build


def _wrong(cmd_builder, which, name=None):
    """A case factory: a good artifact of another kind (renamed to ``name``) where ``cmd_builder`` puts it."""
    def build(a: Art, t: Path) -> Case:
        path = _good(a, which)
        if name:
            path = copy_as(path, name, t)
        return Case(cmd_builder(a, path, t), [path.name])
    return build


# ---------------------------------------------------------------- command lines with one slot for the bad path

def inspect_(a, p, t): return ["inspect", p]
def inspect_config(a, p, t): return ["inspect", a.ckpt, "--config", p]
def logs(a, p, t): return ["logs", p]
def audit_tok(a, p, t): return ["audit-tokenizer", p]
def audit_tok_text(a, p, t): return ["audit-tokenizer", a.sp, "--text", p]
def audit_data(a, p, t): return ["audit-data", p, "-t", a.sp, "--seq-len", "16"]
def audit_data_tok(a, p, t): return ["audit-data", a.shards["bin"], "-t", p, "--seq-len", "16"]
def audit_data_ref(a, p, t): return [*audit_data(a, a.shards["bin"], t), "--reference-text", p]
def topk(a, p, t): return ["topk", p, "-t", a.sp, "--k", "100"]
def train_tok(a, p, t): return ["train-tokenizer", p, "-k", "300", "-m", t / "out.model"]
def sample(a, p, t): return ["sample", p, "-t", a.sp, "-n", "1", "--max-new-tokens", "2"]
def sample_tok(a, p, t): return ["sample", a.ckpt, "-t", p, "-n", "1", "--max-new-tokens", "2"]
def sample_ref(a, p, t): return [*sample(a, a.ckpt, t), "--reference-text", p]
def compare(a, p, t): return ["compare", a.run, p]
def diag_ckpt(a, p, t): return ["diagnose", "--checkpoint", p]
def diag_ckpt_dir(a, p, t): return ["diagnose", "--checkpoint-dir", p]
def diag_config(a, p, t): return ["diagnose", "--checkpoint", a.ckpt, "--config", p]
def diag_data(a, p, t): return ["diagnose", "--data", p, "--tokenizer", a.sp, "--seq-len", "16"]
def diag_tok(a, p, t): return ["diagnose", "--data", a.shards["bin"], "--tokenizer", p, "--seq-len", "16"]
def diag_log(a, p, t): return ["diagnose", "--log", p]
def diag_run(a, p, t): return ["diagnose", "--run", p]
def _retrain_with(a, t, *args): return ["retrain", *args, "--out", t / "rt", "--max-iters", "2", *TINY_RUN]
def retrain_data(a, p, t): return _retrain_with(a, t, "--data", p, "--tokenizer", a.sp)
def retrain_tok(a, p, t): return _retrain_with(a, t, "--data", a.shards["bin"], "--tokenizer", p)
def retrain_from(a, p, t): return _retrain_with(a, t, "--data", a.shards["bin"], "--tokenizer", a.sp, "--from", p)
def resume(a, p, t): return ["retrain", "--standard", "--data", a.shards["bin"], "--tokenizer", a.sp,
                             "--out", p.parent, "--resume", "--max-iters", "4", "--device", "cpu"]
def settings(a, p, t): return ["logs", a.log, "--settings", p]


def _edit_run(filename, content):
    def build(a: Art, t: Path) -> Case:
        folder = broken_run(a, t, lambda f: (f / filename).write_bytes(content))
        return Case(compare(a, folder, t), [filename])
    return build


def _resume_with(filename, content):
    def build(a: Art, t: Path) -> Case:
        folder = broken_run(a, t, lambda f: (f / filename).write_bytes(content))
        return Case(resume(a, folder, t), [filename])
    return build


def _outputs_case(args_fn, names, outputs_fn):
    def build(a: Art, t: Path) -> Case:
        return Case(args_fn(a, t), names, outputs_fn(t))
    return build


FILE_CASES = {
    # inspect: every way a checkpoint can be unusable
    **{f"inspect-ckpt-{how}": _bad(inspect_, "ckpt", how)
       for how in ("missing", "empty", "dir", "random", "text", "truncated")},
    "inspect-safetensors-truncated": _bad(inspect_, lambda a: a.hf / "model.safetensors", "truncated"),
    "inspect-export-truncated": _bad(inspect_, "export", "truncated"),
    "inspect-export-random": _bad(inspect_, "export", "random"),
    "inspect-export-header-of-noise": lambda a, t: Case(inspect_(a, _noise_header(t), t), ["noise.bin"]),
    "inspect-wrongkind-tokenizer": _wrong(inspect_, "sp"),
    "inspect-wrongkind-plain-pickle": _wrong(inspect_, "meta"),
    "inspect-wrongkind-shard-as-pt": _wrong(inspect_, "shards.bin", "ckpt.pt"),
    "inspect-hf-config-not-object": lambda a, t: (lambda d: Case(inspect_(a, d, t), ["config.json"]))(
        _hf_with(a, t, "config.json", b"[1, 2]")),
    "inspect-hf-index-missing-shard": lambda a, t: (lambda d: Case(inspect_(a, d, t), ["index.json"]))(
        _hf_index(a, t)),
    **{f"inspect-config-{how}": _bad(inspect_config, "config", how) for how in ("missing", "empty", "dir", "random")},
    "inspect-config-wrongkind-ckpt": _wrong(inspect_config, "ckpt"),
    # --settings (shared by every reporting command)
    **{f"settings-{how}": _bad(settings, "config", how) for how in ("missing", "empty", "dir", "random", "text")},
    # logs
    **{f"logs-{how}": _bad(logs, "log", how) for how in ("missing", "empty", "dir", "random", "text")},
    "logs-trainer-state-truncated": _bad(logs, "trainer_state", "truncated"),
    "logs-trainer-state-not-json": _bad(logs, "trainer_state", "text"),
    "logs-wrongkind-ckpt": _wrong(logs, "ckpt"),
    "logs-wrongkind-shard": _wrong(logs, "shards.bin"),
    # audit-tokenizer / the tokenizer readers
    **{f"audit-tokenizer-{how}": _bad(audit_tok, "sp", how)
       for how in ("missing", "empty", "dir", "random", "text", "truncated")},
    **{f"audit-tokenizer-meta-{how}": _bad(audit_tok, "meta", how) for how in ("random", "truncated")},
    "audit-tokenizer-wrongkind-shard": _wrong(audit_tok, "shards.bin"),
    "audit-tokenizer-wrongkind-ckpt": _wrong(audit_tok, "ckpt"),
    **{f"audit-tokenizer-text-{how}": _bad(audit_tok_text, "stories", how) for how in ("missing", "dir", "random")},
    "audit-tokenizer-text-binary": _wrong(audit_tok_text, "ckpt"),
    # audit-data: shards of every kind, the tokenizer, the reference text
    **{f"audit-data-bin-{how}": _bad(audit_data, "shards.bin", how) for how in ("missing", "empty", "dir")},
    **{f"audit-data-npy-{how}": _bad(audit_data, "shards.npy", how) for how in ("random", "text", "truncated")},
    **{f"audit-data-parquet-{how}": _bad(audit_data, "shards.parquet", how) for how in ("random", "truncated")},
    **{f"audit-data-arrow-{how}": _bad(audit_data, "shards.arrow", how) for how in ("random", "truncated")},
    **{f"audit-data-jsonl-{how}": _bad(audit_data, "shards.jsonl_text", how) for how in ("random", "text", "truncated")},
    "audit-data-txt-random": _bad(audit_data, "shards.txt", "random"),
    "audit-data-wrongkind-export-as-bin": _wrong(audit_data, "export", "data00.bin"),
    "audit-data-wrongkind-safetensors-as-bin": _wrong(audit_data, lambda a: a.hf / "model.safetensors", "data01.bin"),
    "audit-data-wrongkind-torch-as-bin": _wrong(audit_data, "ckpt", "pytorch_model.bin"),
    "audit-data-wrongkind-ckpt-as-pt": _wrong(audit_data, "ckpt"),
    "audit-data-wrongkind-tokenizer": _wrong(audit_data, "sp"),
    **{f"audit-data-tokenizer-{how}": _bad(audit_data_tok, "sp", how)
       for how in ("missing", "empty", "random", "truncated")},
    "audit-data-tokenizer-wrongkind-shard": _wrong(audit_data_tok, "shards.bin"),
    **{f"audit-data-reference-{how}": _bad(audit_data_ref, "stories", how) for how in ("missing", "empty", "random")},
    # topk: content that would make a silently wrong map
    "topk-random-bin": _bad(topk, "shards.bin", "random"),
    "topk-text-as-bin": _bad(topk, "shards.bin", "text"),
    "topk-odd-size-bin": _bad(topk, "shards.bin", "odd-size"),
    "topk-jsonl-random": _bad(topk, "shards.jsonl_text", "random"),
    "topk-tokenizer-truncated": _bad(lambda a, p, t: ["topk", a.shards["bin"], "-t", p], "sp", "truncated"),
    # train-tokenizer
    **{f"train-tokenizer-txt-{how}": _bad(train_tok, "stories", how) for how in ("missing", "empty", "dir", "random")},
    **{f"train-tokenizer-jsonl-{how}": _bad(train_tok, "shards.jsonl_text", how) for how in ("random", "truncated")},
    "train-tokenizer-parquet-truncated": _bad(train_tok, "shards.parquet", "truncated"),
    "train-tokenizer-wrongkind-ckpt": _wrong(train_tok, "ckpt"),
    # sample
    **{f"sample-ckpt-{how}": _bad(sample, "ckpt", how) for how in ("missing", "empty", "random", "truncated")},
    "sample-wrongkind-tokenizer-as-ckpt": _wrong(sample, "sp"),
    **{f"sample-tokenizer-{how}": _bad(sample_tok, "sp", how) for how in ("missing", "random", "truncated")},
    "sample-tokenizer-wrongkind-ckpt": _wrong(sample_tok, "ckpt"),
    **{f"sample-reference-{how}": _bad(sample_ref, "stories", how) for how in ("missing", "empty", "random")},
    "sample-reference-binary": _wrong(sample_ref, "ckpt"),
    # compare: run folders with one damaged file
    "compare-run-json-empty": _edit_run("run.json", b""),
    "compare-run-json-truncated": lambda a, t: _edit_run("run.json", (a.run / "run.json").read_bytes()[:300])(a, t),
    "compare-run-json-incomplete": _edit_run("run.json", b'{"schema": 1, "kind": "tsdiag-run"}'),
    "compare-metrics-random": _edit_run("metrics.csv", RANDOM),
    "compare-metrics-empty": _edit_run("metrics.csv", b""),
    "compare-metrics-not-numbers": _edit_run("metrics.csv", b"step,loss\n1,abc\n"),
    "compare-wrongkind-tokenizer": _wrong(compare, "sp"),
    "compare-wrongkind-log": _wrong(compare, "log"),
    # diagnose: one bad input among its options
    **{f"diagnose-checkpoint-{how}": _bad(diag_ckpt, "ckpt", how) for how in ("missing", "random", "truncated")},
    "diagnose-checkpoint-dir-missing": _bad(diag_ckpt_dir, "run", "missing"),
    "diagnose-config-random": _bad(diag_config, "config", "random"),
    **{f"diagnose-data-{how}": _bad(diag_data, "shards.npy", how) for how in ("missing", "random")},
    "diagnose-data-wrongkind-export-as-bin": _wrong(diag_data, "export", "data00.bin"),
    "diagnose-tokenizer-truncated": _bad(diag_tok, "sp", "truncated"),
    **{f"diagnose-log-{how}": _bad(diag_log, "log", how) for how in ("missing", "empty", "random")},
    "diagnose-log-wrongkind-ckpt": _wrong(diag_log, "ckpt"),
    "diagnose-run-empty-folder": _bad(diag_run, "run", "dir"),
    "diagnose-run-json-broken": lambda a, t: Case(
        diag_run(a, broken_run(a, t, lambda f: (f / "run.json").write_text("{")), t), ["run.json"]),
    # retrain: data, tokenizer, --from, and a run folder to resume
    **{f"retrain-data-{how}": _bad(retrain_data, "shards.npy", how)
       for how in ("missing", "empty", "random", "truncated")},
    "retrain-data-too-few-tokens": _bad(retrain_data, "shards.txt", "text"),
    "retrain-data-ids-past-vocab": _bad(retrain_data, "shards.bin", "random"),
    "retrain-data-wrongkind-export-as-bin": _wrong(retrain_data, "export", "data00.bin"),
    **{f"retrain-tokenizer-{how}": _bad(retrain_tok, "sp", how) for how in ("missing", "random")},
    **{f"retrain-from-{how}": _bad(retrain_from, "ckpt", how)
       for how in ("missing", "empty", "random", "truncated")},
    "retrain-from-config-random": _bad(retrain_from, "config", "random"),
    "retrain-from-wrongkind-tokenizer": _wrong(retrain_from, "sp"),
    "resume-ckpt-random": _resume_with("ckpt.pt", RANDOM),
    "resume-ckpt-truncated": lambda a, t: _resume_with("ckpt.pt", (a.run / "ckpt.pt").read_bytes()[:5000])(a, t),
    "resume-ckpt-other-model": lambda a, t: _resume_with("ckpt.pt", a.ckpt.read_bytes())(a, t),
    "resume-metrics-random": _resume_with("metrics.csv", RANDOM),
    "resume-run-json-incomplete": _resume_with("run.json", b'{"schema": 1, "kind": "tsdiag-run"}'),
    # output targets: a missing folder or a folder as the file; nothing is written, not even the other outputs
    "inspect-output-missing-folder": _outputs_case(
        lambda a, t: ["inspect", a.ckpt, "--output", t / "no" / "r.txt"], ["r.txt"], lambda t: [t / "no" / "r.txt"]),
    "inspect-output-is-a-folder": _outputs_case(
        lambda a, t: ["inspect", a.ckpt, "--output", t], ["case"], lambda t: []),  # t is the folder "case"
    "logs-plot-missing-folder": _outputs_case(
        lambda a, t: ["logs", a.log, "--plot", t / "no" / "p.png"], ["p.png"], lambda t: [t / "no" / "p.png"]),
    "logs-plot-kept-when-output-fails": _outputs_case(
        lambda a, t: ["logs", a.log, "--plot", t / "p.png", "--output", t / "no" / "r.txt"], ["r.txt"],
        lambda t: [t / "p.png"]),
    "audit-data-plot-kept-when-output-fails": _outputs_case(
        lambda a, t: ["audit-data", a.shards["bin"], "-t", a.sp, "--seq-len", "16", "--plot", t / "p.png",
                      "--output", t / "no" / "r.json"], ["r.json"], lambda t: [t / "p.png"]),
    "compare-plot-kept-when-output-fails": _outputs_case(
        lambda a, t: ["compare", a.run, a.run, "--plot", t / "c.png", "--output", t / "no" / "r.md"], ["r.md"],
        lambda t: [t / "c.png"]),
    "topk-map-missing-folder": _outputs_case(
        lambda a, t: ["topk", a.shards["bin"], "-t", a.sp, "--k", "100", "--map", t / "no" / "m.json"], ["m.json"],
        lambda t: [t / "no" / "m.json"]),
    "topk-map-kept-when-rewrite-refused": _outputs_case(
        lambda a, t: ["topk", a.shards["bin"], "-t", a.sp, "--k", "100", "--map", t / "m.json",
                      "--rewrite", a.shards["bin"].parent], ["shard_bin.bin"], lambda t: [t / "m.json", t / "m.npy"]),
    "topk-rewrite-missing-folder": _outputs_case(
        lambda a, t: ["topk", a.shards["bin"], "-t", a.sp, "--k", "100", "--map", t / "m.json",
                      "--rewrite", t / "no" / "such-folder"], ["such-folder"], lambda t: [t / "m.json", t / "no"]),
    "train-tokenizer-model-missing-folder": _outputs_case(
        lambda a, t: ["train-tokenizer", a.stories, "-k", "300", "-m", t / "no" / "tok.model"], ["tok.model"],
        lambda t: [t / "no" / "tok.model"]),
    "train-tokenizer-model-is-a-folder": lambda a, t: Case(
        ["train-tokenizer", a.stories, "-k", "300", "-m", a.root / "meta"], ["meta"], [a.root / "meta.model"]),
    "retrain-both-without-article-ids": _outputs_case(   # refused before the standard run trains
        lambda a, t: ["retrain", "--both", "--data", a.shards["bin"], "--out", t / "rt", "--max-iters", "2",
                      *TINY_RUN], ["--article-ids"], lambda t: [t / "rt" / "standard"]),
    "demo-unknown-device": _outputs_case(
        lambda a, t: ["demo", "--out", t / "demo", "--device", "tpu"], ["--device"], lambda t: [t / "demo"]),
    "demo-out-is-a-file": _outputs_case(
        lambda a, t: ["demo", "--out", a.stories, "--steps", "20", "--stories", "100"], ["stories.txt"], lambda t: []),
}


def _noise_header(t: Path) -> Path:
    """A .bin whose first 28 bytes read as a plausible llama2.c v0 header with ten million layers."""
    path = t / "noise.bin"
    t.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<7i", 64, 64, 10_000_000, 4, 4, 100, 64) + bytes(1000))
    return path


def _hf_with(a: Art, t: Path, name: str, content: bytes) -> Path:
    folder = t / "hf"
    shutil.copytree(a.hf, folder)
    (folder / name).write_bytes(content)
    return folder


def _hf_index(a: Art, t: Path) -> Path:
    folder = t / "hf"
    folder.mkdir()
    shutil.copy(a.hf / "config.json", folder / "config.json")
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}}))
    return folder


def _one_line_error(result, names) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and lines[0].startswith("tsdiag: error:"), lines
    assert "Traceback" not in result.output
    # the name as the message's subject ("<path>/name: problem"), not inside a temporary file's name
    assert any(re.search(re.escape(Path(str(n)).name) + "[: ]", lines[0]) for n in names), (lines[0], names)
    return lines[0]


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_bad_file_is_one_line_exit_2(art, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)   # nothing may land in the working folder either
    work = tmp_path / "case"
    work.mkdir()
    case = FILE_CASES[name](art, work)
    before = {p for p in work.rglob("*")}
    result = _invoke(case.args)
    _one_line_error(result, case.names)
    for output in case.outputs:
        assert not output.exists(), f"{output} was written"
    stray = [p for p in work.rglob("*") if p not in before and (p.name.endswith(".tmp") or p.suffix == ".png")]
    assert not stray, stray
    assert not any(tmp_path.glob("*.tmp")) and sorted(p.name for p in tmp_path.iterdir()) == ["case"]


# Unusable option values: exit 2 with a usage error (Click) or our one-line error, never a traceback.
def _audit(a, *extra): return ["audit-data", a.shards["bin"], "-t", a.sp, *extra]
def _topk(a, *extra): return ["topk", a.shards["bin"], "-t", a.sp, *extra]
def _train_tok(a, t, *extra): return ["train-tokenizer", a.stories, "-m", t / "x.model", *extra]
def _sample(a, *extra): return ["sample", a.ckpt, "-t", a.sp, "-n", "1", "--max-new-tokens", "2", *extra]
def _retrain(a, t, *extra): return ["retrain", "--data", a.shards["bin"], "--tokenizer", a.sp, "--out", t / "never",
                                    "--max-iters", "1", *TINY_RUN, *extra]


OPTION_CASES = {
    "audit-data --seq-len -5": lambda a, t: _audit(a, "--seq-len", "-5"),
    "audit-data --dtype int8": lambda a, t: _audit(a, "--dtype", "int8"),
    "audit-data --layout foo": lambda a, t: _audit(a, "--layout", "foo"),
    "audit-data --fail-on bogus": lambda a, t: _audit(a, "--fail-on", "bogus"),
    "audit-data --select with a typo": lambda a, t: _audit(a, "--select", "TSD-H1-ARTICLE-RATES"),
    "audit-data --ignore with a typo": lambda a, t: _audit(a, "--ignore", "TSD-H9"),
    "audit-data --article-words ''": lambda a, t: _audit(a, "--article-words", ""),
    "audit-data --sample 0": lambda a, t: _audit(a, "--sample", "0"),
    "audit-data --json --markdown": lambda a, t: _audit(a, "--json", "--markdown"),
    "audit-tokenizer --article-words ''": lambda a, t: ["audit-tokenizer", a.sp, "--article-words", ""],
    "topk --k 0": lambda a, t: _topk(a, "--k", "0"),
    "topk --k past the vocabulary": lambda a, t: _topk(a, "--k", "100000"),
    "topk --vocab-size 0": lambda a, t: _topk(a, "--vocab-size", "0"),
    "topk --workers 0": lambda a, t: _topk(a, "--workers", "0"),
    "topk without a vocabulary size": lambda a, t: ["topk", a.shards["bin"]],
    "train-tokenizer -k 0": lambda a, t: _train_tok(a, t, "-k", "0"),
    "train-tokenizer --max-sentences -1": lambda a, t: _train_tok(a, t, "--max-sentences", "-1"),
    "train-tokenizer --max-sentences 50 (sentencepiece needs > 100)": lambda a, t: _train_tok(a, t, "--max-sentences", "50"),
    "train-tokenizer --threads 0": lambda a, t: _train_tok(a, t, "--threads", "0"),
    "sample --temperature -1": lambda a, t: _sample(a, "--temperature", "-1"),
    "sample -n 0": lambda a, t: _sample(a, "-n", "0"),
    "sample --article-words ''": lambda a, t: _sample(a, "--article-words", ""),
    "sample --n-heads 3": lambda a, t: _sample(a, "--n-heads", "3"),
    "logs --format-hint foo": lambda a, t: ["logs", a.log, "--format-hint", "foo"],
    "logs --vocab-size 1": lambda a, t: ["logs", a.log, "--vocab-size", "1"],
    "diagnose without inputs": lambda a, t: ["diagnose"],
    "diagnose --layout foo": lambda a, t: ["diagnose", "--data", a.shards["bin"], "-t", a.sp, "--layout", "foo"],
    "diagnose --layout foo without --data": lambda a, t: ["diagnose", "--log", a.log, "--layout", "foo"],
    "retrain --time-budget ''": lambda a, t: _retrain(a, t, "--time-budget", ""),
    "retrain --time-budget abc": lambda a, t: _retrain(a, t, "--time-budget", "abc"),
    "retrain --device tpu": lambda a, t: _retrain(a, t, "--device", "tpu"),
    "retrain --lr -1": lambda a, t: _retrain(a, t, "--lr", "-1"),
    "retrain --vocab-size below the data's ids": lambda a, t: _retrain(a, t, "--vocab-size", "10"),
    "retrain --standard --article-weight 5": lambda a, t: _retrain(a, t, "--standard", "--article-weight", "5"),
    "retrain --article-ids 99999": lambda a, t: _retrain(a, t, "--article-ids", "99999"),
    "retrain --article-ids ''": lambda a, t: _retrain(a, t, "--weighted", "--article-ids", ""),
    "rules NOPE": lambda a, t: ["rules", "NOPE"],
    "unknown option": lambda a, t: [*_audit(a), "--no-such-option"],
    "missing argument": lambda a, t: ["topk"],
    "unknown command": lambda a, t: ["no-such-command"],
    "non-integer --seq-len": lambda a, t: _audit(a, "--seq-len", "abc"),
}


@pytest.mark.parametrize("name", sorted(OPTION_CASES))
def test_unusable_option_value_exits_2(art, tmp_path, name):
    result = _invoke(OPTION_CASES[name](art, tmp_path))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tsdiag: error:"), lines   # one greppable line, no usage box
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())   # nothing trained, nothing written
