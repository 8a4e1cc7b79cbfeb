"""auth_service's domain errors; each docstring is the message the client reads."""

from shared.errors import AppError, Conflict, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    """The email or password is incorrect."""


class NotAuthenticated(Unauthorized):
    """No valid session: log in."""


class LegacyBearerDisabled(Unauthorized):
    """Bearer session tokens are no longer accepted: log in again."""


class AccountDisabled(Forbidden):
    """This account is disabled."""


class RecentLoginRequired(Forbidden):
    """This needs a password login from the last hour: log in again."""

    title = "Recent login required"


class CrossSiteRequest(Forbidden):
    """Cross-site requests are not allowed."""


class UnsupportedMediaType(AppError):
    """The request body must be application/json."""

    status = 415
    title = "Unsupported media type"


class EmailTaken(Conflict):
    """An account with this email already exists."""


class TooManyAttempts(AppError):
    """Too many failed logins: try again later."""

    status = 429
    title = "Too many requests"


class SessionNotFound(AppError):
    """The session does not exist."""

    status = 404
    title = "Not found"
