"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, on a free port.

Used by ``tests/store/conftest.py`` when ``HEALTHTWIN_POSTGRES_URL`` is not set and the
server binaries are installed (Debian: ``/usr/lib/postgresql/<version>/bin``). PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` OS user that the
Debian package creates. Durability and autovacuum are switched off: the data is discarded.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL ``bin`` folder holding initdb and pg_ctl, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [p for p in found if (p / "pg_ctl").exists()]
    return max(found, key=lambda p: int(p.parent.name)) if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running server; ``url`` connects as the superuser ``postgres`` without a password."""

    bin_dir: Path
    folder: Path
    port: int
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    def start(self) -> None:
        data = self.folder / "data"
        subprocess.run(
            self._command(
                str(self.bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        # Databases live for one test: vacuuming them only races with their DROP.
        options += " -c autovacuum=off"
        subprocess.run(
            self._command(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.folder / "server.log"),
                "-w",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            self._command(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start_cluster(bin_dir: Path) -> Cluster:
    """Start a server from ``bin_dir`` (as the ``postgres`` user when running as root)."""
    run_as = None
    folder = Path(tempfile.mkdtemp(prefix="healthtwin-pg-"))
    if os.geteuid() == 0:
        run_as = "postgres"
        owner = pwd.getpwnam(run_as)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(bin_dir=bin_dir, folder=folder, port=_free_port(), run_as=run_as)
    try:
        cluster.start()
    except subprocess.CalledProcessError as err:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        cluster.stop()
        raise RuntimeError(
            f"could not start PostgreSQL from {bin_dir}: {err.stderr!r} {log}"
        ) from err
    return cluster
