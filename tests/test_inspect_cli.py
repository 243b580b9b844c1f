"""``tsdiag inspect`` end to end: JSON schema, several paths, folders, safety and every bad-input class."""

from __future__ import annotations

import json
import os
import struct
import pytest
import torch

import ckpt_factory as f


def _json(cli, *args):
    code, out, err = cli("inspect", *args, "--json")
    return code, json.loads(out) if out.strip() else None, err


def test_json_schema_for_one_checkpoint(cli, tmp_path):
    model, opt, _ = f.trained_llama(tied=True)
    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt", model, optimizer=opt, iter_num=150, best_val_loss=1.9,
                                max_iters=2000)
    code, d, _ = _json(cli, path)
    assert code == 0   # warnings only (early stop, min_lr info): below the default --fail-on error
    assert d["schema"] == 1 and d["command"] == "inspect" and d["format"] == "torch-zip"
    a, t = d["architecture"], d["training"]
    assert (a["vocab_size"], a["dim"], a["n_layers"], a["n_heads"], a["n_params"]) == (512, 64, 2, 4, 131392)
    assert a["sources"]["n_heads"] == {"source": "ckpt.pt: model_args.n_heads", "origin": "recorded"}
    assert (t["step"], t["epoch"], t["has_optimizer_state"]) == (150, None, True)
    assert t["val_loss"] == pytest.approx(1.9)
    assert d["hyperparameters"]["min_lr"] == {"value": 0.0, "origin": "inferred",
                                              "source": "inferred: llama2.c train.py sets min_lr = 0.0 in code"}
    assert d["health"]["verdict"] == "trained" and len(d["health"]["tensors"]) == 20
    found = {x["code"]: x for x in d["findings"]}
    assert set(found) == {"TSD-H2-EARLY-STOP", "TSD-H3-MIN-LR"}
    assert found["TSD-H2-EARLY-STOP"]["evidence"][0] == {"name": "step", "value": 150, "unit": "",
                                                          "source": "ckpt.pt: iter_num"}
    assert cli("inspect", path, "--fail-on", "warning")[0] == 1


def test_rich_and_markdown_output(cli, tmp_path):
    path = f.custom_trainer_checkpoint(tmp_path / "checkpoint_best_loss.pth")
    code, out, _ = cli("inspect", path, "--layers")
    assert code == 1   # an error finding: the weights are (almost) at init after one step
    assert "Architecture" in out and "Per layer" in out and "Per tensor" in out
    assert "TSD-H3-LR-HIGH" in out and "config.training.learning_rate" in out
    code, out, _ = cli("inspect", path, "--markdown", "--no-health")
    # step 2,500 of 20,000 at val loss 2.35 with no later checkpoint: stopped early, at error level
    assert code == 1 and "## tsdiag inspect" in out and "`TSD-H2-EARLY-STOP`" in out and "Weight health" not in out


def test_several_paths_give_a_side_by_side_table(cli, tmp_path):
    a = f.llama2c_checkpoint(tmp_path / "a.pt", iter_num=100)
    b = f.hf_folder(tmp_path / "hf", f.trained_llama(tied=False)[0])
    code, out, _ = cli("inspect", a, b, "--no-health", "--fail-on", "never")
    assert code == 0 and "side by side" in out and "a.pt" in out and "hf-folder" in out
    code, d, _ = _json(cli, a, b, "--no-health")
    assert isinstance(d, list) and [x["format"] for x in d] == ["torch-zip", "hf-folder"]


def test_folder_listing_marks_newest_and_best(cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    f.llama2c_checkpoint(run / "ckpt_step_500.pt", iter_num=500, best_val_loss=2.2)
    f.llama2c_checkpoint(run / "ckpt_best.pt", iter_num=1500, best_val_loss=1.6)
    f.llama2c_checkpoint(run / "ckpt_latest.pt", iter_num=2000, best_val_loss=1.7)
    f.hf_trainer_checkpoint(run / "checkpoint-300", step=300)
    (run / "notes.txt").write_text("not a checkpoint")
    code, d, _ = _json(cli, run)
    assert code == 0 and d["format"] == "directory"
    rows = [(os.path.basename(c["path"]), c["step"], c["newest"], c["best"]) for c in d["checkpoints"]]
    assert rows == [("checkpoint-300", 300, False, False), ("ckpt_step_500.pt", 500, False, False),
                    ("ckpt_best.pt", 1500, False, True), ("ckpt_latest.pt", 2000, True, False)]
    # inspecting the older file itself points at the later and the better one
    code, d, _ = _json(cli, run / "ckpt_step_500.pt", "--no-health")
    found = {x["code"]: x for x in d["findings"]}
    assert "ckpt_latest.pt" in found["TSD-H5-NOT-LATEST"]["message"]
    assert "ckpt_best.pt" in found["TSD-H5-NOT-BEST"]["message"]


def test_config_option(cli, tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"model": f.Llama2c().state_dict(), "global_step": 100}, path)
    (tmp_path / "train.yaml").write_text("training:\n  lr: 0.004\n  max_steps: 5000\n")
    code, d, _ = _json(cli, path, "--config", tmp_path / "train.yaml", "--no-health")
    assert d["hyperparameters"]["learning_rate"]["origin"] == "config"
    assert {"TSD-H3-LR-HIGH", "TSD-H2-EARLY-STOP"} <= {x["code"] for x in d["findings"]}
    (tmp_path / "bad.yaml").write_text("a: [unclosed\n")
    code, _, err = cli("inspect", path, "--config", tmp_path / "bad.yaml")
    assert code == 2 and "bad.yaml" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("legacy", [False, True])
def test_malicious_pickle_is_refused_and_never_runs(cli, tmp_path, legacy):
    marker = tmp_path / "pwned"
    path = f.malicious_checkpoint(tmp_path / "evil.pt", marker, legacy=legacy)
    code, out, err = cli("inspect", path)
    assert code == 2 and not marker.exists()
    assert err.strip().startswith("tsdiag: error: ") and "refusing to unpickle" in err and "system" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    from tsdiag.checkpoint import load_state_dict
    from tsdiag.errors import UnsafeInputError

    with pytest.raises(UnsafeInputError):
        load_state_dict(path)
    assert not marker.exists()


def test_unsafe_flag_warns_loudly_before_loading(cli, tmp_path):
    class Settings:   # an argparse-like config object: needs unpickling code
        def __init__(self):
            self.learning_rate = 2e-3

    import argparse

    path = tmp_path / "ns.pt"
    torch.save({"model": f.Llama2c().state_dict(), "iter_num": 5,
                "config": argparse.Namespace(learning_rate=2e-3, max_iters=100)}, path)
    code, _, err = cli("inspect", path)
    assert code == 2 and "argparse.Namespace" in err
    code, out, err = cli("inspect", path, "--unsafe-pickle", "--json", "--no-health")
    assert "WARNING: --unsafe-pickle" in err
    d = json.loads(out)
    assert d["hyperparameters"]["learning_rate"]["value"] == 2e-3 and d["hyperparameters"]["max_iters"]["value"] == 100


def _bad_inputs(tmp):
    model_zip = f.llama2c_checkpoint(tmp / "good.pt")
    data = model_zip.read_bytes()
    (tmp / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp / "empty.pt").write_bytes(b"")
    (tmp / "random.bin").write_bytes(os.urandom(4096))
    (tmp / "notes.pt").write_text("hello, this is a text file\n" * 20)
    (tmp / "huge.safetensors").write_bytes(struct.pack("<Q", 2 ** 60) + b'{"a": 1}')
    (tmp / "garbled.safetensors").write_bytes(struct.pack("<Q", 5) + b"{{{{{" + b"\0" * 64)
    (tmp / "hf_empty").mkdir()
    (tmp / "hf_empty" / "config.json").write_text('{"model_type": "llama"}')
    (tmp / "plain_folder").mkdir()
    return {
        "missing.pt": "no such file", "empty.pt": "empty file", "truncated.pt": "truncated or corrupt zip",
        "random.bin": "not a recognised checkpoint", "notes.pt": "text file",
        "huge.safetensors": "header length 1152921504606846976", "garbled.safetensors": "not valid JSON",
        "hf_empty": "without weights", "plain_folder": "no checkpoints found",
    }


def test_bad_inputs_give_one_line_and_exit_2(cli, tmp_path):
    for name, expected in _bad_inputs(tmp_path).items():
        code, out, err = cli("inspect", tmp_path / name)
        lines = err.strip().splitlines()
        assert code == 2, (name, code, out, err)
        assert len(lines) == 1 and lines[0].startswith(f"tsdiag: error: {tmp_path / name}"), (name, err)
        assert expected in err and "Traceback" not in err, (name, err)


def test_huge_header_costs_no_memory(tmp_path):
    """The 2**60 header length is refused before anything is read or allocated."""
    import tracemalloc

    from tsdiag.checkpoint.safetensors_file import read_safetensors
    from tsdiag.errors import InputError

    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 60) + b"{}" + b" " * 4096)
    tracemalloc.start()
    with pytest.raises(InputError, match="larger than the file"):
        read_safetensors(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 1024


def test_output_file_is_written_atomically(cli, tmp_path):
    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt")
    code, out, _ = cli("inspect", path, "--json", "--no-health", "--output", tmp_path / "report.json")
    assert out == "" and json.loads((tmp_path / "report.json").read_text())["format"] == "torch-zip"
    code, _, err = cli("inspect", tmp_path / "missing.pt", "--output", tmp_path / "r2.json")
    assert code == 2 and not (tmp_path / "r2.json").exists()


def test_python_api_is_exposed_lazily(tmp_path):
    import tsdiag

    path = f.llama2c_checkpoint(tmp_path / "ckpt.pt")
    assert tsdiag.inspect_checkpoint(path, health=False).architecture.get("vocab_size") == 512
    assert "tok_embeddings.weight" in tsdiag.load_state_dict(path)


def test_a_later_checkpoint_of_another_model_is_not_a_newer_sibling(tmp_path):
    from tsdiag.checkpoint import inspect_checkpoint

    mine = f.llama2c_checkpoint(tmp_path / "a.pt", iter_num=2000)
    f.nanogpt_checkpoint(tmp_path / "b.pt", iter_num=5000, best_val_loss=1.2)   # another model, same folder
    result = inspect_checkpoint(mine, health=False)
    assert "TSD-H5-NOT-LATEST" not in {x.code for x in result.findings}
    assert any("b.pt skipped: another model" in n for n in result.notes)
    f.llama2c_checkpoint(tmp_path / "c.pt", iter_num=4000)                        # the same model, later
    result = inspect_checkpoint(mine, health=False)
    assert "TSD-H5-NOT-LATEST" in {x.code for x in result.findings}


def test_folder_listing_ranks_only_the_main_model(tmp_path):
    from tsdiag.checkpoint import inspect_directory

    f.llama2c_checkpoint(tmp_path / "ckpt_1000.pt", iter_num=1000)
    f.llama2c_checkpoint(tmp_path / "ckpt_2000.pt", iter_num=2000)
    f.nanogpt_checkpoint(tmp_path / "nano.pt", iter_num=9000, best_val_loss=0.5)   # another model, later, better
    listing = inspect_directory(tmp_path)
    marks = {e.path.name: (e.newest, e.best, e.other_model) for e in listing.entries}
    assert marks["nano.pt"] == (False, False, True)
    assert marks["ckpt_2000.pt"][0] is True and not marks["ckpt_1000.pt"][2]
