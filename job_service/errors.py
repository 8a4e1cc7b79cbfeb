"""job_service's domain errors, rendered as problem+json."""

from shared.errors import AppError, Conflict, NotFound


class JobNotFound(NotFound):
    """The job does not exist."""


class JobFinished(Conflict):
    """The job has already finished."""


class JobNotRetryable(Conflict):
    """Only a failed or cancelled job can be retried."""


class UnknownUser(AppError):
    """No user has this id."""

    status = 422
    title = "Unknown user"
