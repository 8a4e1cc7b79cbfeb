"""The errors of enqueueing a job, rendered as problem+json."""

from shared.errors import AppError, Conflict


class UnknownJobKind(AppError):
    """No task of this kind is registered."""

    status = 422
    title = "Unknown job kind"


class JobAlreadyQueued(Conflict):
    """A job of this kind is already waiting for the same thing."""
