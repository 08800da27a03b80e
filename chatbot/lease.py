"""One copy of the bot acts per platform and state directory: a lease in the ledger.

Two processes with the same config and ``[bot] state_dir`` for the same platform (a second
replica started by mistake, an old container not yet stopped) would post every reminder twice
and interleave notes edits. The first to start takes the lease (a row of the ledger's ``lease``
table: host, pid, a random token, since when, until when) and renews it every
:attr:`Lease.renew_every` seconds. Another copy says who holds it and waits, doing nothing (no
platform connection, no reminders, pings or answers) until the lease is released (a clean stop
releases it at once) or expires (the holder was killed: at most ``ttl`` after its last
renewal; at once when it ran on this machine and in this pid namespace and its pid is gone),
then takes it over. A copy that finds its lease taken by another (it was paused for
longer than the ``ttl``) sends nothing more and stops.

The lease is per platform (``Backend.name``): a Slack and a Zulip process may share one config
and state directory, as the ledger's keys allow. It uses the real clock (``time.time``), never
``CHATBOT_FAKE_NOW``: every copy must agree on it. ``CHATBOT_LEASE_TTL`` (seconds) changes the
ttl (tests shorten it); the default takes over within :data:`DEFAULT_TTL` + a quarter of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError
from .state import Ledger

log = logging.getLogger(__name__)

TTL_ENV = "CHATBOT_LEASE_TTL"
DEFAULT_TTL = 40.0  # seconds; renewed every quarter of it, so a takeover comes within 50 s


def lease_ttl() -> float:
    """The lease's ttl in seconds: ``$CHATBOT_LEASE_TTL``, else :data:`DEFAULT_TTL`."""
    raw = os.environ.get(TTL_ENV)
    if not raw:
        return DEFAULT_TTL
    try:
        ttl = float(raw)
    except ValueError:
        raise ConfigError(f"{TTL_ENV}: not a number of seconds: {raw!r}") from None
    if not 0.2 <= ttl <= 3600:
        raise ConfigError(f"{TTL_ENV}: give between 0.2 and 3600 seconds, not {raw!r}")
    return ttl


@dataclass(frozen=True)
class Holder:
    """Who holds a lease (a row of the ``lease`` table)."""

    token: str
    host: str
    node: str  # the machine's boot id and the pid namespace: where ``pid`` means this process
    pid: int
    what: str
    since: float
    expires: float

    def describe(self) -> str:
        since = dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat(timespec="seconds")
        return f"{self.what}, pid {self.pid} on host {self.host}, since {since}"


_COLUMNS = "token, host, node, pid, what, since, expires"


def this_node() -> str:
    """Where a pid means one process: this boot of this machine (``boot_id``) and this pid
    namespace (a container has its own). Empty where /proc does not say (then only expiry counts)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{pid_ns}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (of this machine and pid namespace) still runs; a zombie (killed,
    not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError): it exists
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] != "Z"


def read_holders(path: Path) -> dict[str, Holder]:
    """Who holds each lease in the ledger file at ``path`` (possibly expired), read without
    writing anything: the file is opened read-only, so a damaged ledger stays where it is for
    ``chatbot run`` to recover (``sqlite3.Error`` when it cannot be read)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lease'").fetchone() is None:
            return {}  # a ledger from before leases: chatbot run adds the table
        rows = db.execute(f"SELECT name, {_COLUMNS} FROM lease ORDER BY name").fetchall()
    finally:
        db.close()
    return {row[0]: Holder(*row[1:]) for row in rows}


class Lease:
    """The lease ``name`` (a platform) in ``ledger``, for this process."""

    def __init__(
        self,
        ledger: Ledger,
        name: str,
        what: str = "chatbot run",
        ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.ledger = ledger
        self.name = name
        self.what = what
        self.ttl = lease_ttl() if ttl is None else ttl
        self.renew_every = self.ttl / 4
        self.clock = clock
        self.token = secrets.token_hex(8)
        self.host = socket.gethostname()
        self.node = this_node()
        self.pid = os.getpid()

    @property
    def place(self) -> str:
        """What the lease is for, for log lines."""
        return f"{self.name} in state dir {os.path.dirname(str(self.ledger.path)) or '.'}"

    def _holder(self, db: sqlite3.Connection) -> Holder | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM lease WHERE name = ?", (self.name,)).fetchone()
        return Holder(*row) if row else None

    def holder(self) -> Holder | None:
        """Who holds the lease now (possibly expired), or None."""
        return self.ledger.read(self._holder)

    def try_take(self) -> Holder | None:
        """Take the lease when it is free, expired or already ours (then it is renewed): None.
        Else the copy that holds it."""
        now = self.clock()

        def take(db: sqlite3.Connection) -> Holder | None:
            other = self._holder(db)
            if other is not None and other.token != self.token and other.expires > now:
                if not self._gone(other):
                    return other
                log.warning("the copy of the bot that held the lease (%s) is gone; taking over", other.describe())
            since = other.since if other is not None and other.token == self.token else now
            db.execute(
                f"INSERT OR REPLACE INTO lease (name, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.name, self.token, self.host, self.node, self.pid, self.what, since, now + self.ttl),
            )
            return None

        return self.ledger.write(take)

    def _gone(self, other: Holder) -> bool:
        """Whether ``other`` ran where its pid can be checked from here, and no longer runs (its
        pid is free, or is this process's own: a restart with the same pid)."""
        if not self.node or other.node != self.node:
            return False
        return other.pid == self.pid or not pid_alive(other.pid)

    def renew(self) -> bool:
        """Extend the lease by ``ttl`` from now; False when another copy holds it now."""
        expires = self.clock() + self.ttl
        return self.ledger.write(
            lambda db: (
                db.execute(
                    "UPDATE lease SET expires = ? WHERE name = ? AND token = ?", (expires, self.name, self.token)
                ).rowcount
                == 1
            )
        )

    def holds(self) -> bool:
        """Whether this process holds the lease now (asked before each post). Ours but expired
        (a renewal came late, and no other copy took it yet): renewed now."""
        held = self.holder()
        if held is None or held.token != self.token:
            return False
        return held.expires > self.clock() or self.renew()

    def release(self) -> None:
        """Give the lease up at once (a clean stop): a waiting copy takes over at its next look."""
        self.ledger.write(
            lambda db: db.execute("DELETE FROM lease WHERE name = ? AND token = ?", (self.name, self.token))
        )
        log.info("released the lease for %s", self.place)

    def wait(self, stop: threading.Event, on_wait: Callable[[str | None], None] | None = None) -> bool:
        """Take the lease, waiting while another copy holds it (saying so once per holder, and
        telling ``on_wait`` who holds it, then None once taken). False when ``stop`` is set
        first."""
        seen: str | None = None
        while not stop.is_set():
            try:
                other = self.try_take()
            except sqlite3.Error as exc:
                log.error("cannot take the lease for %s (%s); trying again in %g s", self.place, exc, self.renew_every)
            else:
                if other is None:
                    log.info("took the lease for %s (renewed every %g s)", self.place, self.renew_every)
                    if on_wait is not None:
                        on_wait(None)
                    return True
                if other.token != seen:
                    seen = other.token
                    if on_wait is not None:
                        on_wait(f"another copy of the bot ({other.describe()}) holds the lease for {self.place}")
                    log.warning(
                        "another copy of the bot (%s) holds the lease for %s; waiting to take over (this copy "
                        "sends and answers nothing until then; takeover at most %.0f s after that copy stops)",
                        other.describe(),
                        self.place,
                        self.ttl + self.renew_every,
                    )
            stop.wait(self.renew_every)
        return False


class Keeper:
    """Renews a held lease in a thread; ``on_lost()`` when another copy took it (this one was
    paused, or could not renew it, for longer than the ttl)."""

    def __init__(self, lease: Lease, on_lost: Callable[[], None]):
        self.lease = lease
        self.on_lost = on_lost
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease.renew_every):
            try:
                if self.lease.renew():
                    continue
                held = self.lease.holder()
                if held is None and self.lease.try_take() is None:  # the row went (a ledger moved aside)
                    continue
            except sqlite3.Error as exc:
                log.warning("cannot renew the lease for %s (%s); trying again", self.lease.place, exc)
                continue
            log.error(
                "lost the lease for %s to another copy of the bot (%s); this copy sends nothing more and stops",
                self.lease.place,
                held.describe() if held else "none now",
            )
            self.lost = True
            self.on_lost()
            return

    def stop(self, release: bool = True) -> None:
        """Stop renewing; with ``release`` (a clean stop) give the lease up now."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if release and not self.lost:
            try:
                self.lease.release()
            except sqlite3.Error as exc:
                log.warning("cannot release the lease for %s (%s); it expires by itself", self.lease.place, exc)
