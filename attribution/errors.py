"""The engine's error types, which the toolkit built on it (`curate.errors`) shares: one hierarchy, so every
`except InputError` catches the engine's and the studies' alike. Each carries a message the user can act on; the
CLI prints it in one line, without a traceback. They subclass the built-in error they are, so library callers
can catch either."""


class AttributionError(Exception):
    """Base of every error the engine, and the toolkit on top of it, raises on purpose."""


class InputError(AttributionError, ValueError):
    """A bad argument, file, record or setting given by the caller."""


class ModelError(InputError):
    """A model that cannot be loaded, or is not the kind a stage needs (e.g. not a causal LM)."""


class ResourceError(AttributionError, RuntimeError):
    """Work that would exceed a memory or disk budget the caller set."""
