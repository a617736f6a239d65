"""The ``tubelet`` command line: :mod:`.main` (the parser and :func:`main`), :mod:`.common` (what the commands share:
the model argument group, option types, the output-file guard) and one module per command group. The libraries
(:mod:`tubelet.models`, :mod:`tubelet.data`, :mod:`tubelet.engine`, :mod:`tubelet.tasks`) never import it."""
from .common import check_new_files, model_from_args
from .main import build_parser, main
from .models import model_table, pretrained_table, published_flops_table

__all__ = ["build_parser", "check_new_files", "main", "model_from_args", "model_table", "pretrained_table",
           "published_flops_table"]
