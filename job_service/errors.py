"""job_service's domain errors, rendered as problem+json."""

from shared.errors import AppError, Conflict, Forbidden, NotFound


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


class KindNotAllowed(Forbidden):
    """This service client may not enqueue jobs of this kind."""


class ArgsNameAnotherUser(AppError):
    """The job's args name another user than the job's."""

    status = 422
    title = "Validation failed"
