"""The in-memory session rows never outlive a revocation they could have missed."""

import uuid

from auth_service.session_cache import SessionCache


def cache(live: bool = True) -> SessionCache[str]:
    return SessionCache(ttl_seconds=60, live=lambda: live)


def test_a_row_read_before_a_revocation_arrived_is_not_stored() -> None:
    rows = cache()
    session_id = uuid.uuid4()
    generation = rows.generation  # the request starts its read...
    rows.on_notification(str(uuid.uuid4()))  # ...a revocation arrives meanwhile...
    rows.put(session_id, "row read before", generation=generation)  # ...the read ends
    assert rows.get(session_id) is None


def test_a_revocation_drops_the_row() -> None:
    rows = cache()
    session_id = uuid.uuid4()
    rows.put(session_id, "row", generation=rows.generation)
    assert rows.get(session_id) == "row"
    rows.on_notification(str(session_id))
    assert rows.get(session_id) is None


def test_nothing_is_served_or_stored_while_notifications_are_not_flowing() -> None:
    rows = cache(live=False)
    session_id = uuid.uuid4()
    rows.put(session_id, "row", generation=rows.generation)
    assert len(rows) == 0
    assert rows.get(session_id) is None


def test_a_payload_that_is_not_a_session_id_empties_the_cache() -> None:
    rows = cache()
    rows.put(uuid.uuid4(), "row", generation=rows.generation)
    rows.on_notification("not-a-uuid")
    assert len(rows) == 0


def test_the_cache_never_grows_past_its_limit() -> None:
    rows = SessionCache[str](ttl_seconds=60, live=lambda: True, max_entries=10)
    for _ in range(25):
        rows.put(uuid.uuid4(), "row", generation=rows.generation)
    assert len(rows) <= 10
