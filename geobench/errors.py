"""The one exception type for user errors: the CLI prints it as one line and exits with code 2."""


class GeobenchError(Exception):
    """A user-facing error: bad input, missing data, unknown name. Shown as one line, never a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{msg} ({self.hint})" if self.hint else msg
