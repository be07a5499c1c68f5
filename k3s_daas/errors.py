"""The base of every error a user is meant to read.

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A failure with a message that says what went wrong and, where possible, what to do."""

    exit_code: int = 1
