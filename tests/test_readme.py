"""The README and the documentation pages stay true.

- the README's two commands are the ones CI runs;
- the generated tables (models, released weights, published FLOPs), which live in the documentation pages, equal what
  the registry generates now;
- every ``tubelet`` command in a ``bash`` block of the README or a page names a real subcommand and real options (and
  parses, where it is a complete command), and the recipes and files it names exist;
- every Python block compiles, and every ``tubelet.*`` name in the text or the code imports without a
  DeprecationWarning (a name below an old module path, such as ``tubelet.segmentation.segment``, is stale; the old
  module names alone may be named, to say where they went);
- the README's relative links point at files that exist.

The site build itself (broken links between pages, API names of the reference pages) is tests/test_docs.py.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import re
import shlex
import warnings
from pathlib import Path

import pytest

from tubelet.cli import build_parser, model_table, published_flops_table, pretrained_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.rglob("*.md"))
TEXTS = [README, *PAGES]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- the README's two commands ---------------------------------------------------------------------------------------
def test_ci_runs_the_readme_commands():
    text = README.read_text()
    section = text.split("## Set-up: the two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    assert len(commands) == 2
    assert commands[0].endswith("tubelet demo") and commands[1].endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        for step in command.split(" && "):
            assert step.strip() in ci, f"README step not run by .ci/run: {step}"


def test_install_page_repeats_the_readme_commands():
    readme = re.findall(r"```bash\n(.*?)\n```", README.read_text().split("## Set-up: the two commands", 1)[1]
                        .split("\n## ", 1)[0], re.S)
    page = (DOCS / "install.md").read_text()
    for command in readme:
        assert f"```bash\n{command}\n```" in page, f"docs/install.md lacks the README command: {command}"


# -- generated tables ------------------------------------------------------------------------------------------------
def _generated(page: str, marker: str) -> str:
    text = (DOCS / page).read_text()
    found = re.search(rf"<!-- {marker}:begin -->\n(.*?)\n<!-- {marker}:end -->", text, re.S)
    assert found, f"docs/{page} has no <!-- {marker}:begin --> ... <!-- {marker}:end --> block"
    return found.group(1)


def test_model_table_is_generated_from_the_registry():
    assert _generated("models.md", "models") == model_table(markdown=True), \
        "docs/models.md model table is stale: paste `tubelet models --markdown`"


@pytest.mark.xdist_group("published_flops")  # on the worker of tests/test_flops.py: the counts are cached there
def test_flops_table_is_generated():
    assert _generated("performance.md", "flops") == published_flops_table(), \
        "docs/performance.md FLOPs table is stale: paste `tubelet flops --published`"


def test_pretrained_table_is_generated():
    assert _generated("weights.md", "pretrained") == pretrained_table(markdown=True, local=False), \
        "docs/weights.md released-weights table is stale: paste `tubelet models --pretrained --markdown`"


def test_generated_tables_live_in_one_place():
    """The tables moved out of the README; a second copy anywhere would go stale unchecked."""
    for marker, page in (("models", "models.md"), ("pretrained", "weights.md"), ("flops", "performance.md")):
        holders = [_rel(p) for p in TEXTS if f"<!-- {marker}:begin -->" in p.read_text()]
        assert holders == [f"docs/{page}"], f"the {marker} table is in {holders}"


# -- the examples ----------------------------------------------------------------------------------------------------
def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), re.S | re.M)


def _commands(block: str) -> list[str]:
    """The ``tubelet`` command lines of a bash block: continuations joined, synopsis continuation lines (indented,
    starting with an option) joined to their command, comments dropped."""
    lines: list[str] = []
    for line in block.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if lines and line.startswith(" ") and stripped.startswith(("[", "--")):
            lines[-1] += " " + stripped
        else:
            lines.append(stripped)
    out = []
    for line in lines:
        for part in line.split(" && "):
            part = part.strip()
            m = re.search(r"(?:^|\s-m\s)tubelet\s(.*)$", part)
            if part.startswith("tubelet ") or (m and part.startswith(("torchrun ", "python "))):
                out.append("tubelet " + (m.group(1) if m else part[len("tubelet "):]))
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings}


EXAMPLES = [(path, command) for path in TEXTS for block in _blocks(path, "bash") for command in _commands(block)]


def test_the_pages_have_commands_to_check():
    assert len(EXAMPLES) > 40
    assert {p for p, _ in EXAMPLES} >= {README, DOCS / "cli.md", DOCS / "tour.md", DOCS / "dense.md"}


@pytest.mark.parametrize("path,command", EXAMPLES, ids=[f"{_rel(p)}:{c[:60]}" for p, c in EXAMPLES])
def test_command_examples_name_real_commands_and_options(path, command):
    synopsis = any(ch in command for ch in "[]|") or "..." in command
    tokens = shlex.split(command, comments=True)[1:]
    parser = build_parser()
    commands = _subparsers(parser)
    assert tokens and tokens[0] in commands, f"{_rel(path)}: no command {tokens[:1]} in `{command}`"
    sub = commands[tokens[0]]
    nested = _subparsers(sub)
    if nested:
        assert len(tokens) > 1 and tokens[1] in nested, f"{_rel(path)}: `{command}`: expected one of {sorted(nested)}"
        sub = nested[tokens[1]]
    known = _options(sub)
    for token in tokens:
        option = token.strip("[]()|").split("=", 1)[0]
        if re.fullmatch(r"--?[a-z][\w-]*", option):
            assert option in known, f"{_rel(path)}: `{command}`: {option} is not an option of `tubelet {tokens[0]}`"
    for token in tokens:
        for recipe in re.findall(r"configs/[\w./-]+\.yaml", token):
            assert (ROOT / recipe).is_file(), f"{_rel(path)}: `{command}`: no recipe {recipe}"
    if not synopsis:
        try:
            parser.parse_args(tokens)
        except SystemExit as e:
            pytest.fail(f"{_rel(path)}: `{command}` does not parse (exit {e.code})")


def _tubelet_names(path: Path) -> list[str]:
    """``tubelet.a.b`` names in the inline code of the text and in the Python blocks."""
    text = path.read_text()
    code = "\n".join(_blocks(path, "python"))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M).replace("\n", " ")  # spans may wrap
    spans = re.findall(r"`([^`]+)`", prose) + [code]
    names = set()
    for span in spans:
        names.update(re.findall(r"(?<![\w./\-\[])tubelet(?:\.[A-Za-z_]\w*)+", span))
    for tree in (ast.parse(block) for block in _blocks(path, "python")):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tubelet":
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names if a.name.split(".")[0] == "tubelet")
    return sorted(names)


def _resolve(name: str) -> None:
    """Import the longest importable module prefix of ``name`` and get the rest as attributes; a DeprecationWarning
    (an old module path) is an error."""
    from tubelet._compat import MOVED

    parts = name.split(".")
    if len(parts) == 2 and parts[1] in MOVED:  # the old module names, named to say where they went
        return
    if len(parts) > 2 and parts[1] in MOVED:  # tubelet.segmentation.segment &c.: the old paths
        raise AssertionError(f"tubelet.{parts[1]} moved to tubelet.{MOVED[parts[1]]}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ModuleNotFoundError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            return


NAMED = [(path, name) for path in TEXTS for name in _tubelet_names(path)]


def test_the_pages_have_names_to_check():
    assert len(NAMED) > 30


@pytest.mark.parametrize("path,name", NAMED, ids=[f"{_rel(p)}:{n}" for p, n in NAMED])
def test_tubelet_names_in_the_text_exist(path, name):
    try:
        _resolve(name)
    except (AttributeError, AssertionError, DeprecationWarning) as e:
        pytest.fail(f"{_rel(path)} names `{name}`, which does not exist (any more): {e}")


@pytest.mark.parametrize("path", TEXTS, ids=[_rel(p) for p in TEXTS])
def test_python_examples_compile(path):
    for block in _blocks(path, "python"):
        compile(block, _rel(path), "exec")


def test_readme_links_exist():
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text()):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


# -- the README's own-videos commands, run -------------------------------------------------------------------------
def _section(title: str) -> str:
    return README.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_own_videos_commands_run(tmp_path, monkeypatch, capsys):
    """The "Your own videos" section, run as written on real H.264 class folders (offline): the split, the recipe's
    dry run, a training of one step, the prediction with its checkpoint and the Python block; the split prints the
    README's train command."""
    from tests.data.test_split_and_scan import write_h264
    from tubelet.cli import main

    section = _section("Your own videos")
    commands = [c for block in re.findall(r"```bash\n(.*?)\n```", section, re.S) for c in _commands(block)]
    assert [c.split()[1] for c in commands] == ["data", "train", "train", "predict"]
    assert commands[0].startswith("tubelet data split my_videos") and "--dry-run" in commands[1]
    monkeypatch.chdir(tmp_path)
    for i in range(12):  # 3 train + 1 validation videos per class: one full batch of the recipe's 8
        write_h264(tmp_path / "my_videos" / ("jump", "run", "wave")[i % 3] / f"{i}.mp4", seed=i)
    write_h264(tmp_path / "clip.mp4", seed=9)
    recipe = "configs/examples/own_videos_from_scratch.yaml"
    quick = ["--set", "optim.epochs=1", "--set", "optim.warmup_epochs=0", "--set", "train.steps_per_epoch=1",
             "--set", "data.num_workers=0", "--set", "train.progress=false"]
    for command in commands:
        argv = [str(ROOT / t) if t == recipe else t for t in shlex.split(command, comments=True)[1:]]
        if argv[0] == "train" and "--dry-run" not in argv:
            argv += quick
        assert main(argv) == 0, f"README: `{command}` failed"
        out = capsys.readouterr().out
        if argv[0] == "data":  # the split prints the README's train command (the recipe's path from here)
            printed = next(line for line in out.splitlines() if line.startswith("next: "))[len("next: "):]
            assert shlex.split(printed.replace(str(ROOT / recipe), recipe)) == shlex.split(commands[2])
        elif "--dry-run" in argv:
            assert out.startswith("dry run OK")
    assert (tmp_path / "runs" / "my_videos" / "best.safetensors").is_file()
    (block,) = _blocks(README, "python")[1:]  # the one-call classification of a file
    exec(compile(block, "README.md", "exec"), {})
    shown = capsys.readouterr().out
    assert re.match(r"\[\{'index': \d, 'label': '(jump|run|wave)', 'score': ", shown), shown
