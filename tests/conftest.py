"""Shared test set-up: the parity recipe on the path, deterministic threads, the parity weights and files made once
per session, and a parity summary at the end."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "parity"))

#: deterministic threads: 2 (the machine's cores), or 1 in each of pytest-xdist's workers (CI runs two, one a core)
TEST_THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
torch.set_num_threads(TEST_THREADS)

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
    case's regenerated weights and written files serve them all while few are held at once; under pytest-xdist
    (``--dist loadgroup``) each case's tests go to one worker, and different cases to different workers."""
    first: dict[tuple, int] = {}
    keys = []
    for i, item in enumerate(items):
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        key = (item.path, case) if isinstance(case, str) and item.path.name.endswith("_parity.py") else (i,)
        if len(key) == 2:
            item.add_marker(pytest.mark.xdist_group(f"{item.path.stem}:{case}"))
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


# -- strict skips (CI): a skip that hides a broken install fails the run -------------------------------------------
#: the skips that say something about the machine, not about the install: allowed even in strict mode
ALLOWED_SKIPS = ("root reads any file", "no native bf16", "no FIFOs on this system")


def _strict_skips() -> bool:
    return os.environ.get("TUBELET_STRICT_SKIPS") == "1"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr)


def _fail_unexpected_skip(report) -> None:
    """``TUBELET_STRICT_SKIPS=1`` (set by .ci/run, where every extra is installed): a skip whose reason is not one of
    :data:`ALLOWED_SKIPS` (an optional dependency or a browser missing, a fixture not found) is reported as a
    failure."""
    if _strict_skips() and report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not any(allowed in reason for allowed in ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped, but TUBELET_STRICT_SKIPS=1 allows no skip for this reason: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())
