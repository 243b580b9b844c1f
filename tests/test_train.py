"""`tsdiag retrain` on a CPU: a tiny model learns, writes its run folder, resumes, stops safely."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal

import numpy as np
import pytest
import torch
from data_factory import STORIES

from tsdiag.errors import InputError
from tsdiag.recipes import make_config, read_suspect
from tsdiag.train import runfolder
from tsdiag.train.data import split_tokens
from tsdiag.train.loop import retrain
from tsdiag.train.setup import article_setup, prepare_data

TINY = ["--dim", "32", "--n-layers", "2", "--n-heads", "4", "--seq-len", "32", "--batch-size", "8",
        "--grad-accum", "2", "--device", "cpu", "--eval-iters", "2"]


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Tiny models train fastest on one thread; two spinning OpenMP threads on a shared 2-core box crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def stories(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text("\n<|endoftext|>\n".join(STORIES * 2), encoding="utf-8")
    return path


def _retrain(cli, *args):
    code, stdout, stderr = cli("retrain", *args, "--json")
    payload = json.loads(stdout) if stdout.strip().startswith(("{", "[")) else None
    return code, payload, stderr


def test_matched_pair_learns_and_writes_run_folders(cli, tmp_path, stories, sp_model):
    out = tmp_path / "runs"
    code, reports, _ = _retrain(cli, "--both", "--data", stories, "--tokenizer", sp_model, "--max-iters", "40",
                                "--eval-every", "20", "--lr", "3e-3", "--out", out, *TINY)
    assert code in (0, 1)
    standard, weighted, comparison = reports
    assert (standard["recipe"], weighted["recipe"], comparison["command"]) == ("standard", "weighted", "compare")
    assert weighted["article_ids_source"] == "tokenizer" and weighted["article_ids"]
    for recipe in ("standard", "weighted"):
        folder = out / recipe
        assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "ckpt.pt", "run.json", "metrics.csv",
                                                      "loss.png"}
        run = runfolder.read_run(folder)
        rows = runfolder.read_metrics(folder / "metrics.csv")
        assert [r["step"] for r in rows] == list(range(1, 41))
        assert run["step"] == 40 and run["tokens_seen"] == 40 * 8 * 2 * 32
        assert run["val_loss"] < math.log(320) - 1.0          # learned well below the uniform guess
        assert rows[-1]["loss"] < rows[0]["loss"] - 1.0
        assert [v["step"] for v in run["val_history"]] == [20, 40]
        ckpt = torch.load(folder / "ckpt.pt", weights_only=True, map_location="cpu")
        assert ckpt["iter_num"] == 40 and ckpt["best_val_loss"] == pytest.approx(run["best_val_loss"])
        assert set(ckpt) >= {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
    # same seed and data: same initial weights, same batches, so the first step's loss is the same
    first = [runfolder.read_metrics(out / r / "metrics.csv")[0] for r in ("standard", "weighted")]
    assert first[0]["other_loss"] == pytest.approx(first[1]["other_loss"], rel=1e-5)
    assert weighted["ratio"] is not None and comparison["runs"][0]["data_fingerprint"] == \
        comparison["runs"][1]["data_fingerprint"]


def test_inspect_reads_step_and_val_loss(cli, tmp_path, stories, sp_model):
    from tsdiag.checkpoint import inspect_checkpoint

    out = tmp_path / "runs"
    _retrain(cli, "--standard", "--data", stories, "--tokenizer", sp_model, "--max-iters", "6", "--eval-every", "3",
             "--out", out, *TINY)
    run = runfolder.read_run(out / "standard")
    facts = inspect_checkpoint(out / "standard" / "ckpt.pt")
    assert facts.training.step.value == 6
    assert facts.training.best_val_loss.value == pytest.approx(run["best_val_loss"])
    # the schedule is recorded as trained, not inferred from llama2.c's code defaults (min_lr 0, warmup 1000)
    hyper = facts.hyperparameters
    assert hyper["min_lr"].value == pytest.approx(hyper["learning_rate"].value / 10)
    assert hyper["min_lr"].origin == "recorded" and hyper["lr_decay_iters"].value == 6
    assert hyper["warmup_iters"].origin == "recorded" and hyper["warmup_iters"].value == 1  # 5% of 6 steps, at least 1
    assert not [f.code for f in facts.findings if f.code.startswith("TSD-H3")]
    # the run folder itself answers with its ckpt.pt (model.safetensors beside it has weights only)
    folder_facts = inspect_checkpoint(out / "standard")
    assert folder_facts.path.name == "ckpt.pt" and folder_facts.training.step.value == 6
    assert not folder_facts.siblings   # its model.safetensors is the same state, not another checkpoint
    # a run folder that lost its run.json still compares with its step and val loss
    shutil.copytree(out / "standard", tmp_path / "copy")
    (tmp_path / "copy" / "run.json").unlink()
    code, stdout, _ = cli("compare", out / "standard", tmp_path / "copy", "--json")
    runs = json.loads(stdout)["runs"]
    assert code == 0 and runs[1]["kind"] == "checkpoint" and runs[1]["steps"] == 6
    assert runs[1]["best_val_loss"] == pytest.approx(run["best_val_loss"])


def _setup(tmp_path, stories, sp_model, **options):
    data = prepare_data([stories], tokenizer_path=sp_model)
    config = make_config("standard", options={"dim": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 32,
                                              "batch_size": 4, "gradient_accumulation_steps": 1,
                                              "device": "cpu", "log_interval": 1, **options})
    split = split_tokens(data.tokens, config.val_fraction, config.max_seq_len, "test")
    config.vocab_size = data.tokenizer.vocab_size
    article = article_setup(data.tokenizer, None, config.vocab_size)
    return config, split, article, data.info


def test_ctrl_c_saves_and_resume_continues_exactly(tmp_path, stories, sp_model):
    config, split, article, info = _setup(tmp_path, stories, sp_model, max_iters=8, eval_interval=4, eval_iters=1)

    def interrupt_at_step_3(kind, row):
        if kind == "log" and row["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: save and stop at the step boundary

    stopped = retrain(config, split, tmp_path / "a", article=article, data_info=info, reporter=interrupt_at_step_3)
    assert stopped.status == "interrupted" and stopped.run["step"] == 3
    resumed = retrain(config, split, tmp_path / "a", article=article, data_info=info, resume=True)
    assert resumed.status == "completed" and resumed.run["step"] == 8
    straight = retrain(config, split, tmp_path / "b", article=article, data_info=info)
    rows_a = runfolder.read_metrics(tmp_path / "a" / "metrics.csv")
    rows_b = runfolder.read_metrics(tmp_path / "b" / "metrics.csv")
    assert [r["step"] for r in rows_a] == list(range(1, 9))
    assert [r["loss"] for r in rows_a] == pytest.approx([r["loss"] for r in rows_b], rel=1e-5)
    weights_a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)["model"]
    weights_b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.allclose(weights_a[k], weights_b[k], atol=1e-6) for k in weights_b)
    assert straight.run["val_loss"] == pytest.approx(resumed.run["val_loss"], rel=1e-5)


def test_a_pair_stopped_in_its_first_run_resumes_both(tmp_path, stories, sp_model):
    from tsdiag.train.pair import run_recipes

    data = prepare_data([stories], tokenizer_path=sp_model)
    options = {"max_iters": 6, "eval_interval": 3, "eval_iters": 1, "dim": 32, "n_layers": 2, "n_heads": 4,
               "max_seq_len": 32, "batch_size": 4, "gradient_accumulation_steps": 1, "device": "cpu", "log_interval": 1}

    def reporter_for(recipe):
        def interrupt(kind, row):
            if recipe == "standard" and kind == "log" and row["step"] == 2:
                os.kill(os.getpid(), signal.SIGINT)
        return interrupt

    first = run_recipes(["standard", "weighted"], data, tmp_path, options=options, reporter_for=reporter_for)
    assert [o.result.status for o in first] == ["interrupted"] and not (tmp_path / "weighted").exists()
    again = run_recipes(["standard", "weighted"], data, tmp_path, options=options, resume=True)
    assert [(o.config.recipe, o.result.status, o.result.run["step"]) for o in again] == \
        [("standard", "completed", 6), ("weighted", "completed", 6)]
    with pytest.raises(InputError, match="nothing to resume"):
        run_recipes(["standard"], data, tmp_path / "elsewhere", options=options, resume=True)
    # a pair whose first run completed and whose second stopped: resuming trains only the second, and the
    # weighted run's own settings given to --both do not block resuming the standard one
    (tmp_path / "weighted" / "run.json").unlink()
    (tmp_path / "weighted" / "ckpt.pt").unlink()
    again = run_recipes(["standard", "weighted"], data, tmp_path, options={**options, "article_weight": 3.0},
                        resume=True)
    assert [(o.config.recipe, o.result.status) for o in again] == [("standard", "completed"), ("weighted", "completed")]
    assert again[1].config.article_weight == 3.0 and again[0].config.article_weight == 1.0


def test_nonfinite_loss_stops_with_last_good_weights(cli, tmp_path, stories, sp_model):
    out = tmp_path / "runs"
    code, reports, _ = _retrain(cli, "--standard", "--data", stories, "--tokenizer", sp_model, "--max-iters", "30",
                                "--lr", "1e12", "--warmup-iters", "0", "--out", out, *TINY)
    assert code == 1
    assert reports["status"] == "nonfinite"
    assert any(f["code"] == "TSD-RUN-NONFINITE" for f in reports["findings"])
    run = runfolder.read_run(out / "standard")
    assert run["nonfinite_steps"] and run["step"] < 30
    weights = torch.load(out / "standard" / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_explicit_article_ids_are_checked_against_the_tokenizer(cli, tmp_path, stories, sp_model):
    from tsdiag.tokenizer import article_piece_ids, load_tokenizer

    tok = load_tokenizer(sp_model)
    real = int(article_piece_ids(tok)[0])
    not_article = next(i for i in range(3, 300) if i not in set(article_piece_ids(tok).tolist()))
    code, report, _ = _retrain(cli, "--weighted", "--data", stories, "--tokenizer", sp_model, "--max-iters", "2",
                               "--eval-every", "2", "--article-ids", f"{real},{not_article}", "--out", tmp_path / "r",
                               *TINY)
    assert code == 1
    finding = next(f for f in report["findings"] if f["code"] == "TSD-RUN-ARTICLE-IDS")
    assert str(not_article) in finding["message"] and tok.id_to_piece(not_article) in finding["message"]
    assert report["article_ids"] == sorted([real, not_article]) and report["article_ids_source"] == "--article-ids"


def test_weighted_without_article_ids_is_unusable_input(cli, tmp_path):
    shard = tmp_path / "train.bin"
    np.arange(2000, dtype=np.uint16).__mod__(50).astype(np.uint16).tofile(shard)
    code, _, stderr = _retrain(cli, "--weighted", "--data", shard, "--max-iters", "2", "--out", tmp_path / "r", *TINY)
    assert code == 2 and "article ids" in stderr


def test_from_config_copies_hyperparameters(cli, tmp_path):
    shard = tmp_path / "train.bin"
    (np.arange(4000) % 50).astype(np.uint16).tofile(shard)
    config = tmp_path / "train_config.yaml"
    config.write_text("model:\n  n_layer: 2\n  n_embd: 32\n  n_head: 2\ntraining:\n  lr: 0.002\n  betas: [0.9, 0.99]\n")
    suspect = read_suspect(config)
    assert suspect["learning_rate"] == (0.002, "train_config.yaml: training.lr")
    assert suspect["beta2"][0] == 0.99 and suspect["arch"][0] == "nanogpt" and suspect["n_layers"][0] == 2
    code, report, _ = _retrain(cli, "--standard", "--data", shard, "--from", config, "--max-iters", "3",
                               "--eval-every", "3", "--n-heads", "4", "--out", tmp_path / "r", "--seq-len", "32",
                               "--batch-size", "8", "--grad-accum", "1", "--device", "cpu", "--eval-iters", "2")
    assert code == 0
    copied = report["copied_from_suspect"]
    assert copied["learning_rate"] == "train_config.yaml: training.lr" and copied["arch"]
    run = runfolder.read_run(tmp_path / "r" / "standard")
    assert run["architecture"]["family"] == "nanogpt" and run["architecture"]["n_head"] == 4  # the option wins
    assert run["config"]["beta2"] == 0.99 and run["architecture"]["vocab_size"] == 50


def test_time_budget_sets_the_number_of_steps(tmp_path, stories, sp_model):
    config, split, article, info = _setup(tmp_path, stories, sp_model, time_budget=3.0, eval_interval=1000)
    assert config.max_iters is None
    result = retrain(config, split, tmp_path / "t", article=article, data_info=info)
    assert result.status in ("completed", "time_budget") and result.run["max_iters"] >= result.run["step"] > 3
    assert result.run["timings"]["total_s"] < 3.0 * 2.5


def test_existing_run_folder_is_not_overwritten(cli, tmp_path):
    shard = tmp_path / "train.bin"
    (np.arange(4000) % 50).astype(np.uint16).tofile(shard)
    args = ["--standard", "--data", shard, "--max-iters", "2", "--eval-every", "2", "--out", tmp_path / "r", *TINY]
    assert _retrain(cli, *args)[0] == 0
    code, _, stderr = _retrain(cli, *args)
    assert code == 2 and "--resume" in stderr
    # resuming with the options it was started with is fine; a changed one is named by its flag
    more = [a if a != "2" else "4" for a in args[:6]] + args[6:]             # --max-iters 4
    assert _retrain(cli, *more, "--resume")[0] == 0
    code, _, stderr = _retrain(cli, *more, "--resume", "--lr", "1e-2")
    assert code == 2 and "--lr cannot change" in stderr
    # values the run resolved from a default (n_kv_heads = n_heads) given explicitly are the same values
    assert _retrain(cli, *[a if a != "4" else "5" for a in more[:6]], *more[6:], "--resume", "--n-kv-heads", "4")[0] == 0
    run = runfolder.read_run(tmp_path / "r" / "standard")
    assert run["step"] == 5 and run["schedule"]["lr_decay_iters"] == 5 and run["config"]["lr_decay_iters"] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile_mode", ["none", "regional", "full"])
def test_cuda_bf16_compiled_run_learns(tmp_path, stories, sp_model, compile_mode):
    config, split, article, info = _setup(tmp_path, stories, sp_model, max_iters=30, eval_interval=30, eval_iters=2,
                                          device="cuda", learning_rate=3e-3, compile=compile_mode)
    config.objective, config.article_weight = "weighted", 5.0
    result = retrain(config, split, tmp_path / compile_mode, article=article, data_info=info)
    rows = runfolder.read_metrics(tmp_path / compile_mode / "metrics.csv")
    assert result.status == "completed" and rows[-1]["loss"] < rows[0]["loss"] - 1.0
    assert result.run["throughput"]["precision"] == "bfloat16 autocast"
    assert all(r["ms_per_step"] > 0 for r in rows)
    from tsdiag.checkpoint import inspect_checkpoint

    facts = inspect_checkpoint(tmp_path / compile_mode)   # the folder a compiled CUDA run wrote reads back
    assert facts.training.step.value == 30 and facts.architecture.family == "llama2.c"


def test_from_checkpoint_copies_architecture_and_article_weight(tmp_path):
    from tsdiag.model import ModelArgs, Transformer

    args = ModelArgs(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, max_seq_len=16)
    torch.save({"model": Transformer(args).state_dict(), "model_args": vars(args), "iter_num": 500,
                "config": {"learning_rate": 1e-3, "max_iters": 20000, "article_weight": 10.0, "batch_size": 32}},
               tmp_path / "ckpt.pt")
    suspect = read_suspect(tmp_path / "ckpt.pt")
    assert suspect["n_kv_heads"][0] == 2 and suspect["vocab_size"][0] == 64 and suspect["arch"][0] == "llama2c"
    assert suspect["learning_rate"] == (1e-3, "ckpt.pt: config.learning_rate")
    assert suspect["article_weight"] == (10.0, "ckpt.pt: config.article_weight")
    weighted = make_config("weighted", suspect, {"max_iters": 100})
    standard = make_config("standard", suspect)
    assert (weighted.article_weight, weighted.max_iters, weighted.n_kv_heads) == (10.0, 100, 2)
    assert standard.article_weight == 1.0 and standard.max_iters == 20000 and standard.batch_size == 32
    assert weighted.provenance["learning_rate"] == "ckpt.pt: config.learning_rate"


def test_a_shorter_reproduction_keeps_the_shape_of_the_suspect_schedule():
    suspect = {"max_iters": (100_000, "ckpt.pt: config.max_iters"),
               "lr_decay_iters": (200_000, "ckpt.pt: config.lr_decay_iters"),
               "warmup_iters": (1_000, "ckpt.pt: config.warmup_iters")}
    short = make_config("weighted", suspect, {"max_iters": 300})
    assert (short.lr_decay_iters, short.warmup_iters) == (600, 3)      # decay still twice the run, warmup 1%
    assert "scaled to this run's 300 steps" in short.provenance["lr_decay_iters"]
    same = make_config("weighted", suspect, {})
    assert (same.max_iters, same.lr_decay_iters, same.warmup_iters) == (100_000, 200_000, 1_000)
    explicit = make_config("weighted", suspect, {"max_iters": 300, "lr_decay_iters": 300})
    assert explicit.lr_decay_iters == 300 and explicit.warmup_iters == 3


def test_a_new_dim_does_not_keep_the_suspect_feed_forward_width():
    suspect = {"dim": (64, "ckpt.pt: model_args.dim"), "n_heads": (4, "ckpt.pt: model_args.n_heads"),
               "hidden_dim": (192, "ckpt.pt: w1 shape[0]")}
    assert make_config("standard", suspect, {"max_iters": 5}).hidden_dim == 192
    resized = make_config("standard", suspect, {"max_iters": 5, "dim": 32})
    assert resized.hidden_dim is None and "for its own dim" in resized.provenance["hidden_dim"]


def test_both_shares_options_but_the_standard_run_keeps_weight_one():
    shared = {"max_iters": 10, "article_weight": 10.0, "normalize": "tokens"}
    standard, weighted = make_config("standard", None, shared), make_config("weighted", None, shared)
    assert (standard.article_weight, standard.normalize) == (1.0, "weights")
    assert (weighted.article_weight, weighted.normalize) == (10.0, "tokens")


def test_torchrun_two_processes_match_one_process(tmp_path):
    """DDP over gloo on the CPU: rank 0 writes, and the run is the single-process run (same batches, same sums)."""
    import subprocess
    import sys

    shard = tmp_path / "train.bin"
    (np.arange(20000) % 50).astype(np.uint16).tofile(shard)
    common = ["retrain", "--standard", "--data", str(shard), "--max-iters", "4", "--eval-every", "4",
              "--eval-iters", "2", "--dim", "32", "--n-layers", "2", "--n-heads", "4", "--seq-len", "16",
              "--batch-size", "2", "--grad-accum", "2", "--device", "cpu", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for launcher, out in (([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"], "ddp"),
                          ([sys.executable], "single")):
        done = subprocess.run([*launcher, "-m", "tsdiag", *common, "--out", str(tmp_path / out)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    ddp, single = (runfolder.read_run(tmp_path / name / "standard") for name in ("ddp", "single"))
    assert ddp["throughput"]["world_size"] == 2
    assert ddp["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)
    rows = [runfolder.read_metrics(tmp_path / name / "standard" / "metrics.csv") for name in ("ddp", "single")]
    assert [r["loss"] for r in rows[0]] == pytest.approx([r["loss"] for r in rows[1]], rel=1e-5)
