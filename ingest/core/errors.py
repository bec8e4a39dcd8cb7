"""The root of ragqa's expected errors.

Every stage raises a subclass of `RagqaError` for a failure a user can act on (a missing
file, a model that is not available offline, a corrupt index). The CLI and the UI turn it
into one line; anything else is a bug and keeps its traceback.
"""


class RagqaError(Exception):
    """An expected failure with a message a user can act on."""


class ModelUnavailableError(RagqaError):
    """A model is neither embedded, nor a local path, nor in the local Hugging Face cache."""
