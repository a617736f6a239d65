"""PLACEHOLDER being written now (issue 16): segment, segment-eval."""


def add_parsers(sub) -> None:
    """Add this module's commands to the ``tubelet`` parser's subparsers."""
