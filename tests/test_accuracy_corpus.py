"""Acceptance: verdicts on runs made by the peers' own trainers (benchmarks/accuracy.py's fastest cases).

The cases are built from ../shared (llama2.c's unmodified train.py, the real TinyStories text) into
.bench/accuracy/ and cached; without ../shared these tests skip. The whole corpus, with its table, is
`python benchmarks/accuracy.py` (results in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

accuracy_cases = pytest.importorskip("accuracy_cases")
if not accuracy_cases.shared_available():
    pytest.skip("../shared (the peers' trainers and the TinyStories text) is not here", allow_module_level=True)

import accuracy  # noqa: E402


@pytest.mark.parametrize("name", ["llama2c_stopped_early", "custom_weighted_non_articles"])
def test_verdict_on_a_run_made_by_a_real_trainer(name):
    case = accuracy_cases.CASES[name]
    missing = accuracy_cases.missing_requirements(case)
    if missing:
        pytest.skip(f"{case.trainer}'s code needs {', '.join(missing)} (pip install -e '.[test]' brings them)")
    accuracy_cases.build_case(name)
    row = accuracy.evaluate(case, accuracy.diagnose_case(name))
    assert row["error"] is None, row["error"]
    assert row["ok"], (f"{name}: expected {case.expected}, ranked first {row['first']} {row['first_verdict']}, "
                       f"false confirmations {row['false_confirmed']}, errors {row['errors']}")
