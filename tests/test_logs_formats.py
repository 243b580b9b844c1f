"""Every log format with real-shaped lines: detection, parsing, skipped lines, stated settings."""

from __future__ import annotations

import json
import math

import pytest

from tsdiag.errors import InputError
from tsdiag.logs import detect_format, parse_log

LLAMA2C_LOG = """\
Overriding: vocab_source = custom
Overriding: vocab_size = 512
Overriding: max_iters = 5000
tokens per iteration will be: 8,192
breaks down as: 4 grad accum steps * 1 processes * 16 batch size * 128 max seq len
Initializing a new model from scratch
num decayed parameter tensors: 43, with 262,144 parameters
compiling the model... (takes a ~minute)
step 0: train loss 6.2400, val loss 6.2403
0 | loss 6.2421 | lr 0.000000e+00 | 2036.16ms | mfu -100.00%
1 | loss 6.2309 | lr 5.000000e-07 | 80.01ms | mfu -100.00%
2 | loss 6.2101 | lr 1.000000e-06 | 80.00ms | mfu -100.00%
3 | loss 6.1811 | lr 1.500000e-06 | 79.95ms | mfu 40.00%
step 4: train loss 6.1500, val loss 6.1620
saving checkpoint to out
wrote out/model.bin
4 | loss 6.1502 | lr 2.000000e-06 | 80.00ms | mfu 40.00%
"""

NANOGPT_LOG = """\
Overriding config with config/train_shakespeare_char.py:
Overriding: max_iters = 5000
tokens per iteration will be: 16,384
found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)
Initializing a new model from scratch
number of parameters: 10.65M
step 0: train loss 4.2874, val loss 4.2823
iter 0: loss 4.2654, time 29813.56ms, mfu -100.00%
iter 10: loss 3.1462, time 138.30ms, mfu 2.69%
iter 20: loss 2.7322, time 137.98ms, mfu 2.69%
iter 30: loss 2.6184, time 138.02ms, mfu 2.69%
step 250: train loss 1.9694, val loss 2.0709
saving checkpoint to out-shakespeare-char
iter 250: loss 2.0306, time 9121.90ms, mfu 2.42%
"""

ORIGIN_STEP = "Step 10 | Loss: 8.1552 (↓ Improving)"
ORIGIN_ARTICLE = "Article Loss: 4.55 | Other Loss: 10.10 | Ratio: 0.45x"
PREFIX = "2025-10-26 02:12:34 - INFO - main - "


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_llama2c_log(tmp_path):
    path = _write(tmp_path, "train.log", LLAMA2C_LOG)
    assert detect_format(path).name == "llama2c"
    curve = parse_log(path)
    assert list(curve.train.steps) == [0, 1, 2, 3, 4]
    assert curve.train.values[0] == pytest.approx(6.2421)
    assert list(curve.lr.values)[:2] == [0.0, 5e-7]
    assert list(curve.val.steps) == [0, 4] and curve.val.values[1] == pytest.approx(6.162)
    assert list(curve.eval_train.values) == [6.24, 6.15]
    assert curve.total_lines == 17 and curve.skipped_lines == 10  # config, saving, wrote lines
    assert curve.settings["vocab_size"].value == 512
    assert "Overriding: vocab_size = 512" in curve.settings["vocab_size"].source
    assert curve.settings["planned_steps"].value == 5000


def test_nanogpt_log(tmp_path):
    path = _write(tmp_path, "train.txt", NANOGPT_LOG)
    assert detect_format(path).name == "nanogpt"
    curve = parse_log(path)
    assert list(curve.train.steps) == [0, 10, 20, 30, 250]
    assert curve.train.values[-1] == pytest.approx(2.0306)
    assert list(curve.val.values) == [4.2823, 2.0709]
    assert len(curve.lr) == 0  # nanoGPT does not print its lr
    assert curve.settings["vocab_size"].value == 65 and curve.settings["planned_steps"].value == 5000
    assert curve.skipped_lines == 7


def test_nanogpt_gpt2_default_vocab_is_read(tmp_path):
    text = NANOGPT_LOG.replace("found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)",
                               "defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)")
    assert parse_log(_write(tmp_path, "t.log", text)).settings["vocab_size"].value == 50304


@pytest.mark.parametrize("prefix", ["", PREFIX], ids=["bare", "logging-prefix"])
def test_origin_lines_exactly(tmp_path, prefix):
    text = "\n".join(prefix + line for line in [
        "Starting training",
        ORIGIN_ARTICLE,  # before any Step: cannot be placed, skipped
        ORIGIN_STEP,
        ORIGIN_ARTICLE,
        "Step 20 | Loss: 7.9021 (↓ Improving)",
        "Article Loss: 4.10 | Other Loss: 9.80 | Ratio: 0.42x",
        "Step 30 | Loss: 7.9504 (↑ Worse)",
    ]) + "\n"
    path = _write(tmp_path, "run.log", text)
    assert detect_format(path).name == "step-pipe"
    curve = parse_log(path)
    assert list(curve.train.steps) == [10, 20, 30]
    assert list(curve.train.values) == [8.1552, 7.9021, 7.9504]
    # article/other/ratio belong to the Step line before them
    assert list(curve.article_loss.steps) == [10, 20]
    assert list(curve.article_loss.values) == [4.55, 4.10]
    assert list(curve.other_loss.values) == [10.10, 9.80]
    assert list(curve.ratio.values) == [0.45, 0.42]
    assert curve.total_lines == 7 and curve.skipped_lines == 2


def test_step_pipe_fields_on_one_line_planned_steps_and_val(tmp_path):
    text = (f"{PREFIX}Step 100/5000 | Loss: 3.2000 | LR: 3.0e-04 | Article Loss: 1.1 | Other Loss: 3.4 | Ratio: 0.32x\n"
            f"{PREFIX}Val Loss: 3.3000\n"
            f"{PREFIX}Step 200/5000 | Loss: 3.1000 | LR: 2.9e-04\n")
    curve = parse_log(_write(tmp_path, "run.log", text))
    assert list(curve.train.steps) == [100, 200]
    assert list(curve.lr.values) == [3e-4, 2.9e-4]
    assert list(curve.article_loss.steps) == [100] and list(curve.ratio.values) == [0.32]
    assert list(curve.val.steps) == [100] and list(curve.val.values) == [3.3]
    assert curve.settings["planned_steps"].value == 5000


def test_hf_trainer_state(tmp_path):
    state = {
        "best_metric": None, "epoch": 1.0, "global_step": 30, "max_steps": 100,
        "log_history": [
            {"epoch": 0.1, "grad_norm": 3.1, "learning_rate": 5e-05, "loss": 9.8, "step": 10},
            {"epoch": 0.2, "grad_norm": 2.2, "learning_rate": 4e-05, "loss": 6.1, "step": 20},
            {"epoch": 0.2, "eval_loss": 6.3, "eval_runtime": 1.2, "step": 20},
            {"epoch": 0.3, "grad_norm": 1.9, "learning_rate": 3e-05, "loss": 4.4, "step": 30},
            {"epoch": 0.3, "step": 30, "total_flos": 1.0, "train_loss": 6.8, "train_runtime": 12.0},
        ],
    }
    folder = tmp_path / "checkpoint-30"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    for path in (folder / "trainer_state.json", folder):  # the checkpoint folder works too
        curve = parse_log(path)
        assert curve.format == "hf-trainer"
        assert list(curve.train.steps) == [10, 20, 30] and list(curve.train.values) == [9.8, 6.1, 4.4]
        assert list(curve.val.steps) == [20] and list(curve.lr.values) == [5e-05, 4e-05, 3e-05]
        assert curve.skipped_lines == 1  # the run summary is not a point
        assert curve.settings["planned_steps"].value == 100


def test_hf_trainer_state_under_another_name_is_sniffed(tmp_path):
    text = json.dumps({"global_step": 10, "log_history": [{"loss": 2.0, "step": 10}]}, indent=2)
    assert detect_format(_write(tmp_path, "state.json", text)).name == "hf-trainer"


def test_tsdiag_metrics_csv(tmp_path):
    # the columns tsdiag's own reference runs write (tsdiag.train.runfolder.METRIC_COLUMNS)
    text = ("step,tokens,loss,article_loss,other_loss,ratio,lr,grad_norm,ms_per_step,tokens_per_s,mfu,"
            "val_loss,val_article_loss,val_other_loss,val_ratio\n"
            "0,0,6.24,6.1,6.3,0.97,0.0,1.2,80,10000,0.3,6.25,6.2,6.3,0.98\n"
            "10,81920,5.10,4.0,5.3,0.75,5e-5,1.1,80,10100,0.3,,,,\n"
            "20,163840,nan,,,,1e-4,,80,10200,0.3,,,,\n"
            "oops,row\n")
    path = _write(tmp_path, "metrics.csv", text)
    assert detect_format(path).name == "csv"
    curve = parse_log(path)
    assert list(curve.train.steps) == [0, 10, 20]
    assert math.isnan(curve.train.values[2])  # a logged NaN is a value, an empty cell is not
    assert list(curve.val.steps) == [0]
    assert list(curve.article_loss.values) == [6.1, 4.0] and list(curve.ratio.values) == [0.97, 0.75]
    assert list(curve.lr.values) == [0.0, 5e-5, 1e-4]
    assert curve.total_lines == 4 and curve.skipped_lines == 1


def test_csv_columns_by_meaning_and_tabs(tmp_path):
    text = "global_step\ttrain/loss\teval_loss\tlearning_rate\n100\t2.5\t2.7\t0.0003\n200\t2.2\t\t0.0002\n"
    curve = parse_log(_write(tmp_path, "export.tsv", text))
    assert curve.format == "csv"
    assert list(curve.train.values) == [2.5, 2.2] and list(curve.val.steps) == [100]
    assert list(curve.lr.values) == [3e-4, 2e-4]


def test_jsonl(tmp_path):
    lines = [
        {"step": 0, "loss": 6.2, "lr": 0.0},
        {"_step": 10, "train/loss": 5.0, "train/lr": 1e-4},  # W&B-style keys
        {"iter": 20, "val_loss": 4.9},
        {"message": "checkpoint saved"},
        {"step": 30, "loss": 4.1, "article_loss": 3.0, "other_loss": 4.2, "ratio": 0.71},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n"
    path = _write(tmp_path, "metrics.jsonl", text)
    assert detect_format(path).name == "jsonl"
    curve = parse_log(path)
    assert list(curve.train.steps) == [0, 10, 30] and list(curve.val.steps) == [20]
    assert list(curve.ratio.values) == [0.71]
    assert curve.total_lines == 6 and curve.skipped_lines == 2


def test_eval_only_log_can_be_forced_to_either_karpathy_format(tmp_path):
    path = _write(tmp_path, "evals.log", "step 0: train loss 4.2, val loss 4.3\nstep 500: train loss 2.0, val loss 2.1\n")
    assert detect_format(path).name == "llama2c"  # ambiguous: both print this line
    curve = parse_log(path, format_hint="nanogpt")
    assert curve.format == "nanogpt" and list(curve.val.values) == [4.3, 2.1]


@pytest.mark.parametrize("content, problem", [
    ("hello\nworld\n", r"formats understood: llama2c \(llama2.c train.py output\), nanogpt"),
    ("", "empty file"),
    ("\x00\x01binary", "binary data"),
])
def test_unusable_files_are_input_errors(tmp_path, content, problem):
    path = _write(tmp_path, "x.log", content)
    with pytest.raises(InputError, match=problem):
        parse_log(path)


def test_format_hint_errors(tmp_path):
    path = _write(tmp_path, "x.log", "hello\n")
    with pytest.raises(InputError, match="unknown log format"):
        parse_log(path, format_hint="tensorboard")
    with pytest.raises(InputError, match="read as llama2c but no loss values"):
        parse_log(path, format_hint="llama2c")
    with pytest.raises(InputError, match="no such file"):
        parse_log(tmp_path / "missing.log")


def test_long_log_blocks_join_correctly(tmp_path, monkeypatch):
    """Lines that straddle the reader's block boundary are parsed whole."""
    from tsdiag.logs import interface

    monkeypatch.setattr(interface.iter_line_blocks, "__defaults__", (97,))
    text = "".join(f"{i} | loss {2 + i / 1000:.4f} | lr 5.000000e-04 | 80.00ms | mfu 40.00%\n" for i in range(500))
    path = _write(tmp_path, "train.log", text)
    blocks = list(interface.iter_line_blocks(path))
    assert "".join(blocks) == text and all(b.endswith("\n") for b in blocks)
    curve = parse_log(path)
    assert len(curve.train) == 500 and curve.skipped_lines == 0


@pytest.mark.parametrize("name, whole", [
    ("train.log", LLAMA2C_LOG + "5 | loss 6.1417 | lr 2.5e-06 | 80.00ms | mfu 40.00%\n"),
    ("metrics.csv", "step,loss\n1,6.24\n2,6.2\n5,6.1417\n"),
    ("metrics.jsonl", '{"step": 1, "loss": 6.24}\n{"step": 2, "loss": 6.2}\n{"step": 5, "loss": 6.1417}\n'),
])
def test_last_line_without_a_line_end_is_left_out_and_named(tmp_path, name, whole):
    complete = parse_log(_write(tmp_path, "whole-" + name, whole))
    assert complete.partial_last_line is None and complete.train.steps[-1] == 5
    cut = whole[: whole.index("6.1417") + 3]          # "loss 6.1": the first digits of 6.1417
    curve = parse_log(_write(tmp_path, name, cut))
    assert curve.partial_last_line == cut.splitlines()[-1]
    assert curve.train.steps[-1] != 5                 # the cut value was not read
    assert curve.skipped_lines == complete.skipped_lines + 1


def test_a_single_line_without_a_line_end_says_it_was_left_out(tmp_path):
    with pytest.raises(InputError, match="last line has no line end"):
        parse_log(_write(tmp_path, "one.jsonl", '{"step": 1, "loss": 6.24}'))
