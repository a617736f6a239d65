"""PLACEHOLDER being written now (issue 16): pose, pose-eval."""


def add_parsers(sub) -> None:
    """Add this module's commands to the ``tubelet`` parser's subparsers."""
