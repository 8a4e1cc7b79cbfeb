"""job_service's domain errors, rendered as problem+json."""

from shared.errors import Conflict, NotFound, Unauthorized


class JobNotFound(NotFound):
    """The job does not exist."""


class JobFinished(Conflict):
    """The job has already finished."""


class JobNotRetryable(Conflict):
    """Only a failed or cancelled job can be retried."""


class InvalidServiceToken(Unauthorized):
    """A valid service token is required."""
