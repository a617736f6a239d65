"""The ``tubelet`` program: its parser (one module per command group adds its commands) and :func:`main`.

``main(argv)`` returns an exit code, so tests call it directly. Errors a user can fix (a bad file, checkpoint, option
or value: every :class:`~tubelet.errors.TubeletError`) print one line, ``tubelet CMD: error: MESSAGE``, and exit with
status 2; Ctrl-C prints one line and exits with 130 (every output file is written whole or not at all). Anything else
is a bug in tubelet and keeps its traceback.

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


def main(argv: list[str] | None = None) -> int:
    """The ``tubelet`` program. Run as a program (``argv`` None), it first applies :mod:`tubelet.runtime`'s process
    settings (glibc keeps freed memory); called with an argument list (tests, notebooks) it leaves the process alone."""
    args = build_parser().parse_args(argv)
    if argv is None:
        from ..runtime import apply_cli_defaults
        apply_cli_defaults()
    try:
        return args.func(args)
    except TubeletError as e:  # only problems the user can fix: anything else is a bug and keeps its traceback
        print(f"tubelet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; every output file is written whole or not at all
        print(f"tubelet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
