"""The documentation site builds: ``mkdocs build --strict`` (mkdocs.yml) fails on a broken link or anchor between the
pages, a page left out of the nav, an API name that no longer exists (``::: tubelet.x`` or ``[name][tubelet.x]``) and
a docstring the API pages cannot parse. The docstrings' own reST roles (``:func:`x```), which the site shows as text,
are checked here against the package.

Without the ``docs`` extra (``pip install -e ".[docs]"``) the build is skipped, unless ``TUBELET_REQUIRE_DOCS=1``
(CI), where a missing MkDocs is a failure.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what the build needs: MkDocs, the Material theme, mkdocstrings and its Python handler (the ``docs`` extra)
DOCS_MODULES = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocstrings": "mkdocstrings",
                "mkdocstrings_handlers.python": "mkdocstrings-python"}


def _missing_docs_packages() -> list[str]:
    missing = []
    for module, package in DOCS_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is missing
            found = False
        if not found:
            missing.append(package)
    return missing


def test_site_builds_strict(tmp_path):
    missing = _missing_docs_packages()
    if missing:
        message = f"the docs extra is not installed ({', '.join(missing)} missing): pip install -e \".[docs]\""
        if os.environ.get("TUBELET_REQUIRE_DOCS") == "1":
            pytest.fail(f"TUBELET_REQUIRE_DOCS=1, but {message}")
        pytest.skip(message)
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its successor, not a build problem
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                             str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed after {seconds:.1f} s:\n{log}"
    print(f"mkdocs build --strict: {seconds:.1f} s")
    assert (site / "index.html").is_file() and (site / "api" / "models" / "index.html").is_file()
    api = (site / "api" / "models" / "index.html").read_text(encoding="utf-8")
    assert 'id="tubelet.models.create_model"' in api, "the API page lacks create_model: mkdocstrings rendered nothing?"


# -- the docstrings' reST cross-references -----------------------------------------------------------------------------
ROLE = re.compile(r":(func|class|mod|meth|attr|data|exc|obj):`([^`]+)`")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _lookup(path: str, role: str) -> bool:
    """Whether ``path`` names an object: the longest importable module prefix, then attributes. An old module path
    (``tubelet.segmentation.x``) does not count; an ``:attr:`` may be an instance attribute (its class is enough)."""
    from tubelet._compat import MOVED

    parts = path.split(".")
    if len(parts) > 1 and parts[0] == "tubelet" and parts[1] in MOVED and (len(parts) > 2 or parts[1] != "explain"):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for j, attr in enumerate(parts[i:], start=i):
                if not hasattr(obj, attr):
                    last = j == len(parts) - 1
                    return last and role in ("attr", "data") and isinstance(obj, type)
                obj = getattr(obj, attr)
            return True
    return False


def _candidates(target: str, module: str, package: str, classes: list[str]) -> list[str]:
    """Where Sphinx would look for ``target`` written in ``module``: relative (``.x``) to the package, else the module,
    its classes, then absolute."""
    if target.startswith("."):
        up = len(target) - len(target.lstrip("."))
        base = package.split(".")
        base = base[:len(base) - (up - 1)] if up > 1 else base
        return [".".join(base + [target.lstrip(".")])]
    return [f"{module}.{target}", *(f"{module}.{c}.{target}" for c in classes), target]


def test_docstring_cross_references_resolve():
    bad, total = [], 0
    for file in sorted((ROOT / "tubelet").rglob("*.py")):
        module = _module_name(file)
        package = module if file.name == "__init__.py" else module.rsplit(".", 1)[0]
        tree = ast.parse(file.read_text(encoding="utf-8"))
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for role, written in ROLE.findall(ast.get_docstring(node, clean=False) or ""):
                total += 1
                target = written.split("<")[-1].rstrip(">").lstrip("~!").removesuffix("()")
                if not any(_lookup(c, role) for c in _candidates(target, module, package, classes)):
                    bad.append(f"{file.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}: :{role}:`{written}`")
    assert total > 100, "no reST cross-references found: did the docstring style change?"
    assert not bad, "docstring cross-references to names that do not exist:\n" + "\n".join(bad)
