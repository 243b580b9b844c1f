"""Resumed runs made by llama2.c's own train.py: the log's resume point and the optimizer's step count."""

from __future__ import annotations

import json

import pytest


def test_llama2c_resume_without_optimizer_state(cli, tmp_path):
    from anchor_runs import llama2c_resumed_run

    run = llama2c_resumed_run(tmp_path / "run", forget_optimizer=True)
    _, out, _ = cli("logs", run / "train.log", "--json", "--fail-on", "never")
    found = {f["code"]: f for f in json.loads(out)["findings"]}
    resumed = found.get("TSD-LOG-RESUMED") or found["TSD-H3-LOG-RESUME-JUMP"]
    assert "resumed at step 20" in resumed["message"]
    _, out, _ = cli("inspect", run / "out" / "ckpt.pt", "--no-health", "--json", "--fail-on", "never")
    obj = json.loads(out)
    reset = next(f for f in obj["findings"] if f["code"] == "TSD-H3-OPTIMIZER-RESET")
    values = {e["name"]: e["value"] for e in reset["evidence"]}
    assert values["run step"] == 40 and values["optimizer step"] == 20
    _, out, _ = cli("inspect", run / "out" / "ckpt_20.pt", "--no-health", "--json", "--fail-on", "never")
    assert "TSD-H3-OPTIMIZER-RESET" not in {f["code"] for f in json.loads(out)["findings"]}   # saved intact


def test_a_loss_jump_and_a_warmup_restart_at_the_resume(cli, tmp_path):
    """llama2.c's line format: 0-200 falls to 3.0 with the lr decaying; resumed at 100 with the loss at 5.6 (it was 4.5 there)
    and the lr warming up again from 5e-5."""
    lines = [f"{s} | loss {6 - 0.015 * s:.4f} | lr {5e-4 * (1 - s / 400):.6e} | 40.00ms | mfu 0.01%"
             for s in range(0, 201, 10)]
    lines += [f"{s} | loss {5.6 - 0.002 * (s - 100):.4f} | lr {min(5e-4, 5e-5 * (1 + (s - 100) / 10)):.6e} | "
              "40.00ms | mfu 0.01%" for s in range(100, 301, 10)]
    log = tmp_path / "train.log"
    log.write_text("\n".join(lines) + "\n")
    _, out, _ = cli("logs", log, "--json", "--fail-on", "never")
    obj = json.loads(out)
    jump = next(f for f in obj["findings"] if f["code"] == "TSD-H3-LOG-RESUME-JUMP")
    assert "loss jumped" in jump["message"] and jump["hypothesis"] == "H3"
    resume = obj["resumes"][0]
    assert resume["step_before"] == 200 and resume["step_after"] == 100 and resume["lr_rises_after"]
    assert resume["loss_before"] == pytest.approx(4.5, abs=0.2)    # the first run's loss at step 100, not at 200
