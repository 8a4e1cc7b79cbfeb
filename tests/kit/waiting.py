"""Waiting for a state to be reached: poll a check until it holds, fail if it never does.

`eventually` is for async tests (the check may be sync or async), `wait_for` for sync code
(browser tests, benchmarks). Both return what the check returned, once it is truthy.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None], *, within: float = ..., every: float = ..., what: str = ...
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    within: float = 30,
    every: float = 0.05,
    what: str = "condition",
) -> Any:
    """Await until `check()` is truthy and return it; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s (last: {value!r})")
        await asyncio.sleep(every)


def wait_for(
    check: Callable[[], T | None],
    *,
    within: float = 30,
    every: float = 0.05,
    what: str = "condition",
) -> T:
    """Block until `check()` is truthy and return it; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s (last: {value!r})")
        time.sleep(every)
    return value
