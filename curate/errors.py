"""The toolkit's error types: the attribution engine's hierarchy (`attribution.errors`), under the name
`CurateError` for its base, plus the optional dependencies only the toolkit has. One hierarchy, so the CLI's
`except CurateError` and every `except InputError` catch engine and studies alike."""

from attribution.errors import AttributionError as CurateError
from attribution.errors import InputError, ModelError, ResourceError

__all__ = ["CurateError", "InputError", "MissingDependency", "ModelError", "ResourceError", "require"]


class MissingDependency(CurateError, ImportError):
    """A feature whose optional dependency (a pyproject extra) is not installed."""


def require(module: str, extra: str, feature: str, install: str | None = None):
    """`module`, imported; or, when it (or a package it needs) is missing, a `MissingDependency` whose one line
    names the missing package and the extra that installs it (`install` replaces the pip command where the
    extra alone is not enough)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = (error.name or module).split(".")[0]
        command = install or f"pip install 'procedural-curate[{extra}]'"
        raise MissingDependency(f"{feature} needs the optional dependency {missing}: {command}") from error
