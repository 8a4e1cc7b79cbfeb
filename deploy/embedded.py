"""A private PostgreSQL cluster in a folder of ours, for `pgstack dev` and the tests.

Found in order: the machine's binaries (`pg_config --bindir`, PATH, `/usr/lib/postgresql/*/bin`),
then the `pgserver` wheel. Postgres refuses to run as root, so as root the cluster belongs to
the unprivileged `postgres` account.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DATABASE = "pgstack"


class NoPostgres(RuntimeError):
    """No PostgreSQL server binaries here: install PostgreSQL (e.g. `apt-get install
    postgresql`) or the `pgserver` wheel (`uv pip install pgserver`), or set DATABASE_URL."""


def find_bindir() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres`."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidates.append(Path(out))
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    with contextlib.suppress(ImportError):
        # The wheel's own binaries (its module `_commands` names their folder).
        from pgserver._commands import (  # type: ignore[import-not-found, unused-ignore]
            POSTGRES_BIN_PATH,
        )

        return Path(POSTGRES_BIN_PATH)
    raise NoPostgres(" ".join((NoPostgres.__doc__ or "").split()))


class EmbeddedPostgres:
    """A cluster whose data lives in `root/data`; listens on 127.0.0.1 and a socket in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.data = self.root / "data"
        self.bindir = find_bindir()
        self._user = _unprivileged_user()

    @property
    def port(self) -> int:
        return int((self.root / "port").read_text())

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> str:
        """Create the cluster if needed, start it if stopped; return the URL of its database."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            _make_traversable(self.root)
            shutil.chown(self.root, user=self._user.pw_name)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        if not self.running():
            # The same port as last time when it is free (URLs stay valid across restarts),
            # else a free one: several clusters (checkouts, CI, tests) never collide.
            port_file = self.root / "port"
            if not (port_file.exists() and _port_free(int(port_file.read_text()))):
                port_file.write_text(str(_free_port()))
            self._start_server()
        self._create_database()
        return self.url()

    def restart(self, mode: str = "immediate") -> None:
        """Stop the server (by default abruptly, as a crash would) and start it again on the
        same port, where its clients reconnect. (`start()` would move to another port if the
        old one were not free yet.)"""
        self._pg_ctl("stop", "-w", "-m", mode)
        self._start_server()

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._pg_ctl("stop", "-w", "-m", mode)

    def kill(self) -> None:
        """Stop the server abruptly, as a crash would (used by fault tests)."""
        self._pg_ctl("stop", "-w", "-m", "immediate")

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            self._as_owner([str(self.bindir / "pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
        )
        return result.returncode == 0

    def _initdb(self) -> None:
        self.data.mkdir(exist_ok=True)
        if self._user is not None:
            shutil.chown(self.data, user=self._user.pw_name)
        subprocess.run(
            self._as_owner(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ]
            ),
            check=True,
            capture_output=True,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            # A development cluster: no fsync (only an OS crash could lose data), but every
            # commit reaches the WAL before it is acknowledged, so a killed server loses nothing.
            conf.write("\nfsync = off\nfull_page_writes = off\n")
            conf.write("max_connections = 300\nshared_buffers = 128MB\n")

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        for _ in range(50):
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                    ).fetchone()
                    if not exists:
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"the embedded cluster did not accept connections: {self.url()}")

    def _start_server(self) -> None:
        self._pg_ctl(
            "start",
            "-w",
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
        )

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def _as_owner(self, command: list[str]) -> list[str]:
        if self._user is None:
            return command
        return ["runuser", "-u", self._user.pw_name, "--", *command]


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres(
            "running as root needs an unprivileged `postgres` account to own the cluster"
        ) from None


def _make_traversable(folder: Path) -> None:
    """Let the server's account reach `folder` through its parents (o+x, nothing more)."""
    for parent in [folder, *folder.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As Postgres binds: a port whose old connections linger in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
