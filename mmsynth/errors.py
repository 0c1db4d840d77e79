"""Errors that mean "the user asked for something we cannot do" (printed, never a traceback)."""


class UsageError(ValueError):
    """Bad option, bad path or incompatible output directory; the message says what to do."""


class RunAborted(RuntimeError):
    """The run cannot go on (e.g. the LLM server stopped answering); complete shards are kept,
    the shard that hit it is not written, and the same command resumes."""
