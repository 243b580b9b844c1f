"""Shared fixtures.  Artifacts are built per test in tmp folders; nothing downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

# tests/data_factory.py provides the tokenizer fixtures (sp_model, hf_json, char_meta) to every test file
pytest_plugins = ["data_factory"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests using it skip in a fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (fresh clone)")
    return SHARED_DATA


@pytest.fixture
def cli():
    """Run the Typer app in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from tsdiag.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return invoke
