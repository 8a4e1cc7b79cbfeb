"""Operators' commands on accounts (`pgstack users disable|enable|grant-operator|revoke-operator
EMAIL`): each one transaction, committed before it reports."""

import asyncio
from typing import Literal

from auth_service import service
from shared import db
from shared.settings import ServiceSettings

Action = Literal["disable", "enable", "grant-operator", "revoke-operator"]


async def run(action: Action, email: str, *, settings: ServiceSettings) -> str:
    """Carry out `action` on the account of `email`; what happened, in a sentence. An unknown
    email raises auth_service.errors.UserNotFound."""
    engine = db.create_engine(settings)
    now = service.utc_now()
    try:
        async with db.create_sessionmaker(engine)() as session, session.begin():
            if action in ("disable", "enable"):
                revoked = await service.set_active(
                    session, email=email, active=action == "enable", now=now
                )
                if action == "enable":
                    return f"{email}: enabled"
                return f"{email}: disabled, {revoked} session(s) revoked"
            granted = action == "grant-operator"
            changed = await service.set_role(
                session, email=email, role="operator", granted=granted, now=now
            )
    finally:
        await engine.dispose()
    if granted:
        return f"{email}: operator" if changed else f"{email}: already an operator"
    return (
        f"{email}: no longer an operator, sessions revoked"
        if changed
        else f"{email}: not an operator"
    )


def main(action: Action, email: str, settings: ServiceSettings) -> str:
    return asyncio.run(run(action, email, settings=settings))
