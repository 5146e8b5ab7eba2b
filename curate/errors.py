class UserFacingError(Exception):
    """An error caused by the user's input; the CLI prints its message without a traceback."""
