"""Shared test set-up: the parity recipe on the path, deterministic threads, and a parity summary at the end."""
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "parity"))

torch.set_num_threads(2)

#: (case, what) -> relative error, filled by the parity tests and printed in the terminal summary.
PARITY_ERRORS: dict[tuple[str, str], float] = {}


@pytest.fixture
def record_parity():
    def record(case: str, what: str, err: float) -> None:
        PARITY_ERRORS[(case, what)] = max(err, PARITY_ERRORS.get((case, what), 0.0))
    return record


def pytest_terminal_summary(terminalreporter):
    if not PARITY_ERRORS:
        return
    terminalreporter.section("parity: max|out - expected| / max(1, max|expected|) (tolerance 1e-4)")
    for (case, what), err in sorted(PARITY_ERRORS.items()):
        terminalreporter.write_line(f"{err:10.2e}  {case}  [{what}]")
