"""The two state machines of DESIGN.md, each written once: demo mode (`users.demo_mode_status`)
and a platform's connection (`platforms.connection_status`).

Each machine is its states and its table of allowed (from, to) moves. An operation (enable,
connect, ...) is a path through it: from a state where it may start, to the state it is in while
its job runs (`moving`), then to where its job ends (`done`, or `failed` when its last attempt
failed). Where an operation may start, and where it is refused, follow from the table.

The database enforces the same machines, for every writer: the CHECK constraints hold the states
and the triggers of migrations 0006 and 0008 the moves; tests/demo_service/test_states.py tries
every pair against the database and compares it with this module.
"""

from dataclasses import dataclass
from typing import Literal, get_args

DemoStatus = Literal["disabled", "enabling", "enabled", "disabling", "failed"]
ConnectionStatus = Literal["disconnected", "connecting", "connected", "disconnecting", "error"]


@dataclass(frozen=True)
class Machine:
    """A state machine: its states and the moves between them (a state to itself is no move)."""

    name: str
    states: tuple[str, ...]
    moves: frozenset[tuple[str, str]]

    def allows(self, start: str, end: str) -> bool:
        return (start, end) in self.moves


@dataclass(frozen=True)
class Operation:
    """What a request starts and a job finishes: `moving` while its job runs, then `done`, or
    `failed` after its last attempt failed (or its job was cancelled)."""

    name: str
    machine: Machine
    moving: str
    done: str
    failed: str

    @property
    def start(self) -> tuple[str, ...]:
        """The states it starts from: those the machine lets move to `moving`."""
        return tuple(s for s in self.machine.states if self.machine.allows(s, self.moving))

    @property
    def refused(self) -> tuple[str, ...]:
        """The states in which a request for it is a conflict: neither a start nor already
        under way or done (there, the request answers the current state)."""
        answered = {*self.start, self.moving, self.done}
        return tuple(s for s in self.machine.states if s not in answered)


DEMO = Machine(
    name="demo mode",
    states=get_args(DemoStatus),
    moves=frozenset(
        {
            ("disabled", "enabling"),
            ("enabling", "enabled"),
            ("enabling", "failed"),
            ("enabled", "disabling"),
            ("disabling", "disabled"),
            ("disabling", "failed"),
            ("failed", "enabling"),
            ("failed", "disabling"),
        }
    ),
)
ENABLE = Operation("enable", DEMO, moving="enabling", done="enabled", failed="failed")
DISABLE = Operation("disable", DEMO, moving="disabling", done="disabled", failed="failed")

CONNECTION = Machine(
    name="connection",
    states=get_args(ConnectionStatus),
    moves=frozenset(
        {
            ("disconnected", "connecting"),
            ("connecting", "connected"),
            ("connecting", "error"),
            ("connected", "disconnecting"),
            ("disconnecting", "disconnected"),
            ("disconnecting", "error"),
            # From `error` (a connect or a disconnect that failed) either may be tried again.
            ("error", "connecting"),
            ("error", "disconnecting"),
        }
    ),
)
CONNECT = Operation("connect", CONNECTION, moving="connecting", done="connected", failed="error")
DISCONNECT = Operation(
    "disconnect", CONNECTION, moving="disconnecting", done="disconnected", failed="error"
)
