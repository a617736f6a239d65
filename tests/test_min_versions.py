"""pyproject.toml's lower bounds and constraints-min.txt (the same versions, pinned: what `.ci/min_versions` installs
and tests) say the same thing, and the web page asks for the Gradio the ``app`` extra promises."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: extras that are not installed at their lowest versions by .ci/min_versions, with the reason
NOT_CHECKED = {"docs": "the documentation site (mkdocs), built by its own job, not by the library or its tests"}


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(path.read_text())


def _name(requirement: str) -> str:
    """PEP 503's normalised name of a requirement (``huggingface_hub>=1`` -> ``huggingface-hub``)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


def _lower_bound(requirement: str) -> str | None:
    found = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", requirement)
    return found.group(1) if found else None


def _same_version(a: str, b: str) -> bool:
    from packaging.version import Version
    return Version(a) == Version(b)


def _requirements() -> dict[str, list[tuple[str, str]]]:
    """Normalised name -> [(where, requirement)] over the core dependencies and the checked extras."""
    project = _toml(ROOT / "pyproject.toml")["project"]
    out: dict[str, list[tuple[str, str]]] = {}
    groups = {"dependencies": project["dependencies"], **{f"[{k}]": v for k, v in
                                                         project["optional-dependencies"].items()
                                                         if k not in NOT_CHECKED}}
    for where, reqs in groups.items():
        for req in reqs:
            out.setdefault(_name(req), []).append((where, req))
    return out


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints-min.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"constraints-min.txt: {line!r} is not NAME==VERSION"
        assert _name(name) not in pins, f"constraints-min.txt: {name} twice"
        pins[_name(name)] = version.strip()
    return pins


def test_every_requirement_has_a_lower_bound_pinned_in_constraints_min():
    reqs, pins = _requirements(), _pins()
    for name, uses in reqs.items():
        bounds = {_lower_bound(req) for _, req in uses}
        assert None not in bounds, f"{name}: no lower bound in pyproject.toml ({uses}); state the lowest tested one"
        assert len(bounds) == 1, f"{name}: different lower bounds in pyproject.toml: {uses}"
        bound = bounds.pop()
        assert name in pins, f"{name}>={bound}: missing from constraints-min.txt"
        assert _same_version(pins[name], bound), \
            f"{name}: pyproject.toml says >={bound}, constraints-min.txt pins =={pins[name]}"
    extra = sorted(set(pins) - set(reqs))
    assert not extra, f"constraints-min.txt pins what pyproject.toml does not ask for: {extra}"


def test_serve_asks_for_the_gradio_of_the_app_extra():
    from tubelet.serve import GRADIO_MIN_VERSION

    (where, req), *_ = _requirements()["gradio"]
    assert _same_version(_lower_bound(req), GRADIO_MIN_VERSION), (req, GRADIO_MIN_VERSION)


def test_min_versions_script_installs_constraints_min():
    script = (ROOT / ".ci" / "min_versions").read_text()
    assert "constraints-min.txt" in script and "constraints.txt" in script  # the minimums, torch from the pins
    assert script.startswith("#!/usr/bin/env bash")
