"""The VM code's one user-facing error."""


class KernelSpecError(ValueError):
    """A kernel that cannot be used; the message is one line for the user."""
