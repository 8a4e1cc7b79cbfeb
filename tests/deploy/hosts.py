"""Hosts on this machine for the multi-host tests: network namespaces joined by veth pairs to a
bridge the test makes, and a private Postgres listening on the bridge. Needs root and `ip`
(iproute2); everything made here is removed afterwards, and no packet leaves the machine:
the only addresses are the bridge's private /24.
"""

import os
import pwd
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.deploy.processes import free_port

BINDIR = Path("/usr/lib/postgresql")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Hosts:
    """`count` namespaces, each with one link to the bridge at `gateway`."""

    count: int
    tag: str = field(default_factory=lambda: f"{random.randrange(16**4):04x}")
    subnet: int = field(default_factory=lambda: random.randrange(10, 250))

    @property
    def gateway(self) -> str:
        return f"10.213.{self.subnet}.1"

    @property
    def bridge(self) -> str:
        return f"pgsb{self.tag}"

    def namespace(self, index: int) -> str:
        return f"pgstack-{self.tag}-{index}"

    def link(self, index: int) -> str:
        """The bridge's end of host `index`'s veth pair."""
        return f"pgsv{self.tag}{index}"

    def address(self, index: int) -> str:
        return f"10.213.{self.subnet}.{10 + index}"

    def exec_prefix(self, index: int) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespace(index))

    def create(self) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for index in range(self.count):
            ns = self.namespace(index)
            ip("netns", "add", ns)
            ip("link", "add", self.link(index), "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", self.link(index), "master", self.bridge, "up")
            ip("-n", ns, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, index: int) -> None:
        """Pull host `index`'s cable: its packets are dropped, nobody is told."""
        ip("link", "set", self.link(index), "down")

    def mend(self, index: int) -> None:
        ip("link", "set", self.link(index), "up")

    def pids(self, index: int) -> list[int]:
        result = subprocess.run(
            ["ip", "netns", "pids", self.namespace(index)], capture_output=True, text=True
        )
        return [int(pid) for pid in result.stdout.split()]

    def remove(self) -> None:
        for index in range(self.count):
            for pid in self.pids(index):
                subprocess.run(["kill", "-9", str(pid)], check=False)
            subprocess.run(["ip", "netns", "del", self.namespace(index)], check=False)
            # The pair goes with its namespace, but only once nothing holds that any more.
            subprocess.run(
                ["ip", "link", "del", self.link(index)], check=False, capture_output=True
            )
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)


@contextmanager
def hosts(count: int) -> Iterator[Hosts]:
    assert os.geteuid() == 0, "the multi-host test makes network namespaces: run it as root"
    assert shutil.which("ip"), "the multi-host test needs iproute2's `ip`"
    made = Hosts(count)
    try:
        made.create()
        yield made
    finally:
        made.remove()


@contextmanager
def private_cluster(listen: str, network: str) -> Iterator[str]:
    """A throwaway Postgres listening on 127.0.0.1 and `listen`, trusting `network`; it drops
    a dead client's connection within seconds (TCP keepalives), as production should."""
    versions = sorted(BINDIR.glob("*/bin/initdb"))
    assert versions, "the multi-host test needs Postgres' server binaries (postgresql package)"
    bindir = versions[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="pgstack-hosts-"))
    data = folder / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        shutil.chown(folder, user=owner.pw_name)
        run_as = ["runuser", "-u", owner.pw_name, "--"]
    port = free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {network} trust\n")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"listen_addresses = '127.0.0.1,{listen}'\nport = {port}\n"
            f"unix_socket_directories = '{folder}'\nfsync = off\n"
            "tcp_keepalives_idle = 2\ntcp_keepalives_interval = 1\ntcp_keepalives_count = 2\n"
        )
    pg_ctl = [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log")]
    subprocess.run([*pg_ctl, "-w", "start"], check=True, capture_output=True, timeout=120)
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE pgstack")
        yield f"postgresql://postgres@{{host}}:{port}/pgstack"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        for _ in range(50):
            if not (data / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)
