"""Errors a user can fix. The command line prints their one-line message and exits with code 2."""


class EbtlabError(Exception):
    """A problem with the user's input; the message names the key, file or value and what is wrong."""


class ConfigError(EbtlabError, ValueError):
    """A config that cannot be used."""


class DataError(EbtlabError, ValueError):
    """Data that cannot be used: a missing or unreadable file, too little data, a bad split."""


class CheckpointError(EbtlabError, ValueError):
    """A checkpoint that is missing, unreadable or of another model."""


def first_line(error: Exception) -> str:
    """Return the first line of an exception's message, or its type name when the message is empty."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__
