"""The package's shape: every import (lazy ones included, read with ``ast``) runs down the layers below, no module
imports another in a circle, and no library module imports the command line."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "tubelet"

#: each top-level entry of the package and its layer: an entry may import only entries of lower layers
LAYERS = {
    "errors": 0,
    "atomic": 1, "runtime": 1, "hub": 1, "labels": 1, "keypoints": 1,
    "data": 2,
    "models": 3,
    "config": 4, "flops": 4, "export": 4,
    "engine": 5, "benchmark": 5,
    "tasks": 6,
    "serve": 7,
    "cli": 8,
}
#: the package's face and its helpers, which may import anything below the command line
FACE = {"__init__", "__main__", "_compat"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _faces(modules: dict[str, Path]) -> dict[str, dict[str, str]]:
    """package -> {name: module} for the names its ``__init__.py`` hands on with ``from .x import name``."""
    faces = {}
    for module, path in modules.items():
        if path.name != "__init__.py":
            continue
        faces[module] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = module
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
                for a in node.names:
                    faces[module][a.asname or a.name] = source
    return faces


def _imports() -> dict[str, set[str]]:
    """module -> the package's modules it imports. ``from P import name`` goes to the submodule ``P.name`` if there
    is one, else (P a package that hands ``name`` on from a submodule) to that submodule, else to P; a name that a
    package's ``__init__.py`` defines itself (``__version__``) is no arrow."""
    modules = _modules()
    faces = _faces(modules)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def through_faces(mod: str, name: str) -> str | None:
        while f"{mod}.{name}" not in modules and mod in faces:
            source = faces[mod].get(name)
            if source is None:  # defined by the __init__ itself
                return None if modules[mod].name == "__init__.py" and _defines(mod, name) else mod
            if resolve(source) == mod:
                return mod
            mod = resolve(source)
        return f"{mod}.{name}" if f"{mod}.{name}" in modules else mod

    def _defines(mod: str, name: str) -> bool:
        tree = ast.parse(modules[mod].read_text(encoding="utf-8"))
        return any(isinstance(n, (ast.Assign, ast.FunctionDef, ast.ClassDef)) and
                   (getattr(n, "name", None) == name or any(getattr(t, "id", None) == name
                                                            for t in getattr(n, "targets", [])))
                   for n in tree.body)

    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names if a.name.split(".")[0] == "tubelet"]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                mod = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
                if mod.split(".")[0] != "tubelet":
                    continue
                mod = resolve(mod)
                targets = [through_faces(mod, a.name) for a in node.names]
            else:
                continue
            edges[module].update(t for t in targets if t and t != module)
    return edges


def _entry(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_entry_has_a_layer():
    entries = {_entry(m) for m in _modules()} - FACE
    assert entries == set(LAYERS), f"new or removed top-level entries: give each a layer in LAYERS ({entries ^ set(LAYERS)})"


def test_imports_run_down_the_layers():
    wrong = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets
                   if _entry(a) not in FACE and _entry(a) != _entry(b)
                   and (_entry(b) in FACE or LAYERS[_entry(b)] >= LAYERS[_entry(a)]))
    assert not wrong, "imports that run up (or sideways) between the package's entries:\n" + "\n".join(wrong)


def test_no_library_module_imports_the_command_line():
    wrong = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets
                   if _entry(b) == "cli" and _entry(a) not in ("cli", "__main__"))
    assert not wrong, "\n".join(wrong)


def test_models_know_nothing_of_data_engine_or_tasks():
    """The style guide's rule: a reader needs only the family file and models' own helpers to follow a forward."""
    wrong = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets
                   if _entry(a) == "models" and _entry(b) in ("data", "engine", "tasks", "cli", "config"))
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("old,new", [("segmentation", "segment"), ("pose", "pose_eval"), ("features", "plan_windows")])
def test_moved_modules_still_import_with_a_warning(old, new):
    import importlib
    import sys

    import tubelet

    sys.modules[f"tubelet.{old}"].__dict__["_tubelet_warned"] = False  # warn again in this test
    with pytest.warns(DeprecationWarning, match=f"tubelet.{old} moved to tubelet.tasks.{old}"):
        moved = importlib.import_module(f"tubelet.{old}")
        function = getattr(moved, new)
    assert function is getattr(importlib.import_module(f"tubelet.tasks.{old}"), new)
    assert getattr(tubelet, old) is moved


def test_explain_is_the_function_even_after_importing_the_old_module_path():
    import tubelet

    with pytest.warns(DeprecationWarning):
        from tubelet.explain import overlay  # the old spelling of the module's names
    from tubelet.tasks.explain import explain, overlay as real_overlay

    assert overlay is real_overlay
    assert tubelet.explain is explain and callable(tubelet.explain)


def test_cli_public_names_and_the_program():
    import tubelet.cli as cli
    from tubelet.cli.main import COMMAND_MODULES

    assert callable(cli.main) and callable(cli.model_table) and callable(cli.pretrained_table)
    parser = cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert {"demo", "train", "eval", "predict", "models", "segment", "pose-eval", "explain", "features",
            "serve"} <= commands
    assert len(COMMAND_MODULES) == len({m.__name__ for m in COMMAND_MODULES})
