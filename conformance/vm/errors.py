"""The VM code's one user-facing error."""


class KernelSpecError(ValueError):
    """A kernel that cannot be used; the message is one line for the user."""


class MirrorError(Exception):
    """The Debian mirror could not be read (an index refresh failed); the indexes are left as they were.
    The message is one line naming the mirror; exit status 3 (kconform could not do its part)."""
