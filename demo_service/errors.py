"""demo_service's domain errors; each docstring is the problem's default detail."""

from shared.errors import Conflict, NotFound


class UserNotFound(NotFound):
    """The user does not exist."""


class PlatformNotFound(NotFound):
    """The platform does not exist."""


class DemoBusy(Conflict):
    """Demo mode is changing the other way; try again when that has finished."""


class PlatformBusy(Conflict):
    """The platform's connection is not in a state that allows this."""


class SimulatedFailure(Exception):
    """This attempt failed on purpose (the DEMO_FAIL_ATTEMPTS test hook)."""
