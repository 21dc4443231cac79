"""Import a library while the modules it imports only for other features wait until first used.

ranx's package imports, at module level, everything any of its features needs: matplotlib and
seaborn for plots, scipy.stats for significance tests, pandas for DataFrame conversion,
ir_datasets for dataset loaders; together seconds of every process that only computes metrics.
:func:`importing_with_deferred` imports a library with such modules replaced by stand-ins: a
stand-in imports its module on first use and forwards to it, and a name taken from it
(``from scipy.stats import ttest_rel``) is a callable that does the same. Only imports made by
the importing thread while the library loads get stand-ins, and none stays in ``sys.modules``:
any later ``import pandas`` (or ``import ranx``, ``ranx.compare`` with a significance test,
``ranx.plot``) gets the real modules, loaded then.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


class _StandIn(ModuleType):
    """Stands for module ``__name__``; outside the import that made it, forwards to the real module."""

    def __init__(self, spec: importlib.machinery.ModuleSpec, window: _Window) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec
        if spec.submodule_search_locations is not None:
            self.__path__ = list(spec.submodule_search_locations)
        self._deferred_window = window

    def __getattr__(self, attr: str) -> Any:
        if self._deferred_window.open:
            if attr.startswith("__"):  # the import system probing the module
                raise AttributeError(attr)
            return _DeferredName(self.__name__, attr)
        return getattr(_real_module(self.__name__), attr)


class _DeferredName:
    """``from module import name`` made while ``module`` was deferred: resolved on first use."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def _target(self) -> Any:
        return getattr(_real_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target(), attr)

    def __repr__(self) -> str:
        return f"<deferred {self._module}.{self._name}>"


def _real_module(name: str) -> ModuleType:
    module = importlib.import_module(name)
    if isinstance(module, _StandIn):
        raise ImportError(f"{name} is used while the import that deferred it is still running")
    return module


class _Window(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The finder (and loader) of stand-ins while a library is being imported."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.roots = frozenset(roots)
        self.thread = threading.get_ident()
        self.open = True
        self.made: list[_StandIn] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not self.open or name.split(".")[0] not in self.roots or threading.get_ident() != self.thread:
            return None
        real = importlib.machinery.PathFinder.find_spec(name, path)
        if real is None:
            return None  # not installed: the import fails as it would have
        spec = importlib.machinery.ModuleSpec(
            name, self, is_package=real.submodule_search_locations is not None
        )
        spec.submodule_search_locations = real.submodule_search_locations
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        stand_in = _StandIn(spec, self)
        self.made.append(stand_in)
        return stand_in

    def exec_module(self, module: ModuleType) -> None:
        """Nothing runs: the real module loads when the stand-in is first used."""

    def close(self) -> None:
        """Take the stand-ins out of ``sys.modules`` and off their real parents; forward from now on."""
        self.open = False
        for stand_in in self.made:
            name = stand_in.__name__
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name)
            if (
                parent is not None
                and not isinstance(parent, _StandIn)
                and vars(parent).get(child) is stand_in
            ):
                delattr(parent, child)


@contextmanager
def _deferring(roots: Iterable[str]) -> Iterator[None]:
    window = _Window(roots)
    sys.meta_path.insert(0, window)
    try:
        yield
    finally:
        sys.meta_path.remove(window)
        window.close()


def importing_with_deferred(library: str, deferred: Iterable[str]) -> ModuleType:
    """``import library``, with the packages ``deferred`` (and their submodules) loaded on first use.

    A package already imported is used as it is; when ``library`` itself is already imported,
    nothing changes.
    """
    if library in sys.modules:
        return sys.modules[library]
    with _deferring(deferred):
        return importlib.import_module(library)
