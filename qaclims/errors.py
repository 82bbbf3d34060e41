"""Errors that the command line reports as a message, without a traceback."""


class QaclimsError(Exception):
    """An error caused by input or configuration that the user can fix."""


class ConfigError(QaclimsError):
    """The configuration is invalid; the message names the key."""


class DatasetError(QaclimsError):
    """The dataset on disk is incomplete or inconsistent; the message names the file."""
