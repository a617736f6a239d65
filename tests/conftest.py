"""Shared test set-up: the parity recipe on the path, deterministic threads, the parity weights and files made once
per session, and a parity summary at the end."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "parity"))

torch.set_num_threads(2)

#: (case, what) -> relative error, filled by the parity tests and printed in the terminal summary.
PARITY_ERRORS: dict[tuple[str, str], float] = {}


class ParityFiles:
    """Checkpoint files of the parity tests, each written once per session: ``get(key, write)`` calls
    ``write(path)`` the first time a key is asked for; ``save(key, make)`` writes ``torch.save(make())``. Files are
    kept while they fit in a disk budget (least recently used deleted first, never one the running test asked for;
    ``TUBELET_PARITY_FILES_MB``)."""

    #: the session's instance (its files of the running test are pinned until the test ends)
    active: "ParityFiles | None" = None

    def __init__(self, root: Path):
        import recipe

        self.root = root
        self.cache = recipe.SizedCache(int(os.environ.get("TUBELET_PARITY_FILES_MB", "3072")) << 20,
                                       on_drop=lambda path: path.unlink(missing_ok=True))

    def get(self, key: tuple, write, suffix: str = ".pth") -> Path:
        self.cache.pinned.add(key)

        def make() -> Path:
            path = self.root / ("-".join(map(str, key)).replace("/", "_") + suffix)
            write(path)
            return path
        return self.cache.get(key, make, lambda path: path.stat().st_size)

    def save(self, key: tuple, make, suffix: str = ".pth") -> Path:
        return self.get(key, lambda path: torch.save(make(), path), suffix)


@pytest.fixture(scope="session")
def parity_files(tmp_path_factory):
    files = ParityFiles.active = ParityFiles(tmp_path_factory.mktemp("parity-files"))
    yield files
    files.cache.clear()
    ParityFiles.active = None


def pytest_runtest_teardown(item):
    if ParityFiles.active is not None:
        ParityFiles.active.cache.pinned.clear()


@pytest.fixture(scope="session", autouse=True)
def _drop_parity_weights():
    """The regenerated parity weights are freed when the session ends (they are gigabytes)."""
    yield
    import recipe
    recipe.WEIGHTS.clear()


def pytest_collection_modifyitems(items):
    """Run the tests of each parity case together (in each module, in the order of the case's first test), so the
    case's regenerated weights and written files serve them all while few are held at once."""
    first: dict[tuple, int] = {}
    keys = []
    for i, item in enumerate(items):
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        key = (item.path, case) if isinstance(case, str) and item.path.name.endswith("_parity.py") else (i,)
        keys.append(first.setdefault(key, i))
    items[:] = [item for _, _, item in sorted(zip(keys, range(len(items)), items), key=lambda t: (t[0], t[1]))]


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
