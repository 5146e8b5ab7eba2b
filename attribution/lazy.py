"""Package namespaces that import their modules when a name is first used, so the CLI starts without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], object]]:
    """`__all__` and a module `__getattr__` for `package`, whose `modules` (module -> names) load on first use."""
    owner = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name in owner:
            return getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        raise AttributeError(name)

    return sorted(owner), __getattr__
