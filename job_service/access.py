"""Who may keep a stream open: at most `JOBS_MAX_STREAMS_PER_USER` streams per user on this
process, and none past the revocation of the session it was opened with.

Threat model: a passport is checked once, when a stream opens, and a stream lives for hours.
Without this, a user who logs out (or whose password is changed, whose sessions are revoked,
whose operator role is taken away, which revokes them too) keeps receiving their jobs, or
everyone's on `/v1/ops/events`, for as long as the connection holds; and one user's script
could hold thousands of streams, each a queue in the hub and a file descriptor. A revocation
reaches every process by `NOTIFY session_revoked` (shared/passport.py, `RevokedSessions`), and
here it ends the session's streams at once: within a second of the revocation's commit.
"""

import uuid
from collections import Counter, defaultdict

from job_service.hub import Subscription
from shared.errors import AppError
from shared.passport import Passport, RevokedSessions

# A stream holds its slot for as long as it is open: a client refused should not come back
# within milliseconds.
RETRY_AFTER_SECONDS = 5


class TooManyStreams(AppError):
    """Too many open streams: close one (another tab) and try again."""

    status = 429
    title = "Too many requests"


class StreamGuard:
    """The streams open on this process, per user and per session."""

    def __init__(self, revoked: RevokedSessions, *, max_per_user: int) -> None:
        self.revoked = revoked
        self.max_per_user = max_per_user
        self._per_user: Counter[int] = Counter()
        self._by_session: defaultdict[uuid.UUID, set[Subscription]] = defaultdict(set)
        revoked.on_revoke(self._end_session)

    def admit(self, passport: Passport) -> "Admission":
        """A slot for one more stream of this passport's user; TooManyStreams if none is left."""
        if self._per_user[passport.user_id] >= self.max_per_user:
            raise TooManyStreams(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self._per_user[passport.user_id] += 1
        return Admission(self, passport)

    def open_streams(self, user_id: int) -> int:
        return self._per_user[user_id]

    def _end_session(self, session_id: uuid.UUID) -> None:
        for subscription in self._by_session.pop(session_id, ()):
            subscription.end()


class Admission:
    """One stream's slot: `hold` its subscription while it streams, `release` when it ends."""

    def __init__(self, guard: StreamGuard, passport: Passport) -> None:
        self._guard = guard
        self._passport = passport
        self._subscription: Subscription | None = None
        self._released = False

    def hold(self, subscription: Subscription) -> Subscription:
        """Watch the session for this subscription; end it at once if it is already revoked
        (between the passport's check and now)."""
        self._subscription = subscription
        session_id = self._passport.session_id
        if session_id in self._guard.revoked:
            subscription.end()
        else:
            self._guard._by_session[session_id].add(subscription)
        return subscription

    def release(self) -> None:
        """Close the subscription (if any) and free the slot; again is nothing."""
        if self._released:
            return
        self._released = True
        guard, user_id = self._guard, self._passport.user_id
        guard._per_user[user_id] -= 1
        if guard._per_user[user_id] <= 0:
            del guard._per_user[user_id]
        subscription = self._subscription
        if subscription is not None:
            subscription.close()
            streams = guard._by_session.get(self._passport.session_id)
            if streams is not None:
                streams.discard(subscription)
                if not streams:
                    del guard._by_session[self._passport.session_id]
