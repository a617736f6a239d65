"""The README stays true: its model table is generated from the registry, and CI runs its two commands."""
import re
from pathlib import Path

from tubelet.cli import model_table

ROOT = Path(__file__).resolve().parents[1]


def test_model_table_is_generated_from_the_registry():
    text = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- models:begin -->\n(.*?)\n<!-- models:end -->", text, re.S).group(1)
    assert table == model_table(markdown=True), "README model table is stale: paste `tubelet models --markdown`"


def test_ci_runs_the_readme_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up: the two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        for step in command.split(" && "):
            assert step.strip() in ci, f"README step not run by .ci/run: {step}"


def test_flops_table_is_generated():
    from tubelet.cli import published_flops_table
    text = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- flops:begin -->\n(.*?)\n<!-- flops:end -->", text, re.S).group(1)
    assert table == published_flops_table(), "README FLOPs table is stale: paste `tubelet flops --published`"


def test_pretrained_table_is_generated():
    from tubelet.cli import pretrained_table
    text = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- pretrained:begin -->\n(.*?)\n<!-- pretrained:end -->", text, re.S).group(1)
    assert table == pretrained_table(markdown=True, local=False), \
        "README released-weights table is stale: paste `tubelet models --pretrained --markdown`"
