"""Old module paths that still import: ``tubelet.segmentation`` -> :mod:`tubelet.tasks.segmentation`, and the same
for ``pose``, ``explain`` and ``features``. Each old name is an entry in ``sys.modules`` that loads the new module
on first use and warns (DeprecationWarning) once per old name; nothing is a file, so the package keeps one place for
each module, and ``tubelet.explain`` stays the function (an old module file would replace it as an attribute when
imported)."""
from __future__ import annotations

import importlib
import sys
import types
import warnings

#: old module path (below the package) -> its new one
MOVED = {"segmentation": "tasks.segmentation", "pose": "tasks.pose", "explain": "tasks.explain",
         "features": "tasks.features"}


class _MovedModule(types.ModuleType):
    """Stands in for a module that moved: attribute access imports the new module and forwards to it."""

    def __init__(self, old: str, new: str):
        super().__init__(old, f"moved to {new}")
        self.__dict__["_tubelet_new"] = new
        self.__dict__["_tubelet_warned"] = False

    def _target(self) -> types.ModuleType:
        d = self.__dict__
        if not d["_tubelet_warned"]:
            d["_tubelet_warned"] = True
            warnings.warn(f"{self.__name__} moved to {d['_tubelet_new']}; import it from there (the old name will "
                          f"be removed in a later release)", DeprecationWarning, stacklevel=3)
        return importlib.import_module(d["_tubelet_new"])

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__") and name != "__all__":  # inspect probes __file__ &c.
            raise AttributeError(name)
        return getattr(self._target(), name)

    def __dir__(self):
        return dir(self._target())


def install_moved_modules(package: str) -> None:
    for old, new in MOVED.items():
        sys.modules.setdefault(f"{package}.{old}", _MovedModule(f"{package}.{old}", f"{package}.{new}"))
