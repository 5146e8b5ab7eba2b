"""The library's error types. Each carries a message the user can act on; the CLI prints it in one line,
without a traceback. They subclass the built-in error they are, so library callers can catch either."""


class CurateError(Exception):
    """Base of every error the toolkit raises on purpose."""


class InputError(CurateError, ValueError):
    """A bad argument, file, record or setting given by the caller."""


class ModelError(InputError):
    """A model that cannot be loaded, or is not the kind a stage needs (e.g. not a causal LM)."""


class ResourceError(CurateError, RuntimeError):
    """Work that would exceed a memory or disk budget the caller set."""


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
