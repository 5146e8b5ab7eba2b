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
