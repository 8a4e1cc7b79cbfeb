"""A real PgBouncer (Debian's `pgbouncer` package) in transaction mode in front of the test
server, started and stopped by the test that needs it."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.deploy.processes import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@contextmanager
def pgbouncer(database_url: str, *, pool_size: int = 4) -> Iterator[str]:
    """PgBouncer in transaction mode before the server of `database_url`; yields the URL of
    the same database through it. At most `pool_size` server connections per database, so
    clients really share them (a prepared statement or a LISTEN would not survive)."""
    assert Path(BINARY).exists(), "the PgBouncer tests need it: apt-get install -y pgbouncer"
    server = urlsplit(database_url)
    folder = Path(tempfile.mkdtemp(prefix="pgstack-pgbouncer-"))
    port = free_port()
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"""
[databases]
* = host={server.hostname} port={server.port} user={server.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
server_reset_query =
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
    )
    command = [BINARY, str(config)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; the cluster's own account runs it.
        owner = pwd.getpwnam("postgres")
        shutil.chown(folder, user=owner.pw_name)
        command = ["runuser", "-u", owner.pw_name, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "PgBouncer did not listen within 10 s"
            time.sleep(0.05)
        yield server._replace(netloc=f"{server.username}@127.0.0.1:{port}").geturl()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)
