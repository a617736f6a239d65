"""The ``tubelet`` program: its parser (one module per command group adds its commands) and :func:`main`.

``main(argv)`` returns an exit code, so tests call it directly. Errors a user can fix (a bad file, checkpoint, option
or value: every :class:`~tubelet.errors.TubeletError`) print one line, ``tubelet CMD: error: MESSAGE``, and exit with
status 2; Ctrl-C prints one line and exits with 130 (every output file is written whole or not at all); a reader that
closed the pipe (``tubelet models | head``) ends the command quietly with 141. An unknown flag is reported with its
command's usage and the closest flags of that command (``--chekpoint: did you mean --checkpoint?``). Anything else is
a bug in tubelet and keeps its traceback.

``--set KEY=VALUE`` has one grammar everywhere (:func:`tubelet.config.parse_overrides`): keys are dotted paths into
the run config, values are YAML. ``train``, ``eval`` and ``demo`` take any config key (``optim.lr=1e-4``); the commands
that only build a model take ``model.options.KEY=VALUE``, with ``KEY=VALUE`` as its short form.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import TubeletError
from . import detect, explain, features, models, pose, predict, segment, serve, train

#: the command groups, in the order of ``tubelet --help``
COMMAND_MODULES = (train, predict, models, segment, pose, detect, explain, features, serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tubelet", description="Video recognition with UniFormer, UniFormerV2 and "
                                                            "Video Swin Transformer.")
    p.add_argument("--version", action="version", version=f"tubelet {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return p


def _command_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The (sub)parser of the command that ``args`` ran: ``tubelet data split`` -> the ``split`` parser."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action is not None else None
        if chosen is None or chosen not in action.choices:
            return parser
        parser = action.choices[chosen]


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--")]


def unknown_arguments_message(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """``unrecognized arguments: --chekpoint`` with the closest flags of the command: a misspelling (``--chekpoint``,
    ``--ovewrite``) or an underscore for a dash (``--top_k``)."""
    import difflib

    flags, hints = _flags(parser), []
    for word in extras:
        if not word.startswith("-"):
            continue
        name = word.split("=", 1)[0]
        dashed = "--" + name.lstrip("-").replace("_", "-")
        close = [dashed] if dashed in flags else difflib.get_close_matches(dashed, flags, n=2, cutoff=0.6)
        if close:
            hints.append(f"{name}: did you mean {' or '.join(close)}?")
    text = f"unrecognized arguments: {' '.join(extras)}"
    return text + ("; " + "; ".join(hints) if hints else f"; see `{parser.prog} --help`")


def _quiet_broken_pipe() -> int:
    """``tubelet models | head -2``: the reader left, so stop quietly (no traceback, nothing more to say) with the
    shell's status of a closed pipe, 141 = 128 + SIGPIPE. Standard output is pointed at /dev/null first, or Python's
    flush at exit would fail on the same pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already closed
        pass
    return 141


def main(argv: list[str] | None = None) -> int:
    """The ``tubelet`` program. Run as a program (``argv`` None), it first applies :mod:`tubelet.runtime`'s process
    settings (glibc keeps freed memory); called with an argument list (tests, notebooks) it leaves the process alone.
    An unknown flag is reported by its command's parser, with the closest flags of that command."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = _command_parser(parser, args)
        command.error(unknown_arguments_message(command, extras))
    if argv is None:
        from ..runtime import apply_cli_defaults
        apply_cli_defaults()
    try:
        from ..hub import command_line_advice  # a failed download then advises --checkpoint, not create_model()
        with command_line_advice():
            return args.func(args)
    except TubeletError as e:  # only problems the user can fix: anything else is a bug and keeps its traceback
        print(f"tubelet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; every output file is written whole or not at all
        print(f"tubelet {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tubelet models | head`: the reader has gone
        return _quiet_broken_pipe()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
