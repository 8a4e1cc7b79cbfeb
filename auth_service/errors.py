"""auth_service's domain errors; each docstring is the message the client reads."""

from shared.errors import AppError, Forbidden, Unauthorized


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


class TooManyAttempts(AppError):
    """Too many failed logins: try again later."""

    status = 429
    title = "Too many requests"


class SessionNotFound(AppError):
    """The session does not exist."""

    status = 404
    title = "Not found"


class TooManyRegistrations(AppError):
    """Too many registrations: try again later."""

    status = 429
    title = "Too many requests"


class CurrentPasswordIncorrect(Forbidden):
    """The current password is incorrect."""


class UserNotFound(AppError):
    """No account has this email."""

    status = 404
    title = "Not found"


class BearerLoginsDisabled(Unauthorized):
    """New bearer sessions are no longer issued: log in with a cookie (transport "cookie")."""
