"""Errors that mean "the user asked for something we cannot do" (printed, never a traceback)."""


class UsageError(ValueError):
    """Bad option, bad path or incompatible output directory; the message says what to do."""
