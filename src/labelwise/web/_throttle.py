"""Login throttling: exponential back-off per account and per client address.

Every login attempt is keyed twice: by the account name as typed and by the client's
address. Each key has a few free failures (``free_per_account``, ``free_per_address``);
every failure after those locks the key for ``base_s``, then twice as long, and so on up
to ``max_s``. While any key of an attempt is locked the attempt is refused with
:class:`~labelwise.errors.TooManyRequestsError` (HTTP 429 with ``Retry-After``) before
the password is looked at, so a right password does not get in either and costs no
argon2 work. A success clears the account's failures; an address's failures are
forgotten ``forget_s`` after its last one (an attacker who owns one account cannot
wipe the address's record by logging in to it).

One attempt per account is checked at a time: a second one while the first is being
checked is refused at once (``Retry-After: 1``), so sixteen parallel guessers of one
password get one argon2 hash, not sixteen. Password checks of different accounts wait
their turn for one of ``concurrent`` slots (:meth:`LoginThrottle.hashing`): twenty
people logging in at once from one office are served one after another, and the other
users of the app keep their CPU.

State lives in this process (the app serves one project from one process). The clock
is injectable, so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from labelwise.errors import TooManyRequestsError

__all__ = ["LoginThrottle", "Ticket"]


@dataclass
class _State:
    failures: int = 0
    last_failure: float = -math.inf
    locked_until: float = -math.inf
    in_flight: int = 0


@dataclass
class Ticket:
    """One admitted login attempt: the keys it holds until :meth:`LoginThrottle.done`."""

    keys: tuple[tuple[str, str], ...]
    closed: bool = field(default=False)


class LoginThrottle:
    """Back-off for failed logins, per account name and per client address.

    Parameters
    ----------
    free_per_account, free_per_address : int
        Failures allowed before the back-off starts.
    base_s, max_s : float
        The first lock and the longest one (the lock doubles with every failure).
    forget_s : float
        Failures older than this (counted from a key's last failure) are forgotten.
    concurrent : int or None
        Password checks run at the same time (default: the number of CPUs, at least 2);
        more wait up to ``wait_s`` seconds for a slot, then get 429.
    wait_s : float
    max_keys : int
        Keys remembered; the least recently used are dropped beyond it (a spray of
        made-up account names cannot grow memory without bound).
    clock : callable returning seconds, default ``time.monotonic``
    """

    def __init__(
        self,
        *,
        free_per_account: int = 5,
        free_per_address: int = 20,
        base_s: float = 1.0,
        max_s: float = 300.0,
        forget_s: float = 3600.0,
        concurrent: int | None = None,
        wait_s: float = 10.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.free = {"account": free_per_account, "address": free_per_address}
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = forget_s
        self.wait_s = wait_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[tuple[str, str], _State] = OrderedDict()
        self._slots = threading.BoundedSemaphore(concurrent or max(2, os.cpu_count() or 2))
        self._lock = threading.Lock()

    # -- the three calls around one attempt ------------------------------------------------
    def begin(self, name: str, address: str) -> Ticket:
        """Admit an attempt, or raise :class:`TooManyRequestsError` with the wait."""
        keys = (("account", (name or "").strip()[:200]), ("address", address or "unknown"))
        with self._lock:
            now = self.clock()
            states = [self._state(k, now) for k in keys]
            self._prune()
            wait = max(s.locked_until - now for s in states)
            if wait > 0:
                raise TooManyRequestsError(
                    "too many failed logins for this account or from this address; "
                    f"try again in {math.ceil(wait)} s.",
                    retry_after=math.ceil(wait),
                )
            if states[0].in_flight:
                raise TooManyRequestsError(
                    "another login for this account is being checked; try again in a second.",
                    retry_after=1,
                )
            for s in states:
                s.in_flight += 1
        return Ticket(keys)

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one of the password-check slots (wait up to ``wait_s``, else 429)."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise TooManyRequestsError(
                "the server is busy checking other logins; try again in a few seconds.",
                retry_after=2,
            )
        try:
            yield
        finally:
            self._slots.release()

    def done(self, ticket: Ticket, *, ok: bool | None) -> float:
        """End an attempt: ``ok`` True (right password), False (wrong) or None (neither).

        Returns the seconds the attempt's keys are now locked for (0 when not locked).
        """
        with self._lock:
            if ticket.closed:
                return 0.0
            ticket.closed = True
            now = self.clock()
            locked = 0.0
            for key in ticket.keys:
                s = self._state(key, now)
                s.in_flight -= 1
                if ok is True and key[0] == "account":
                    s.failures, s.locked_until = 0, -math.inf
                elif ok is False:
                    s.failures += 1
                    s.last_failure = now
                    over = s.failures - self.free[key[0]]
                    if over > 0:
                        lock = min(self.max_s, self.base_s * 2.0 ** min(over - 1, 64))
                        s.locked_until = max(s.locked_until, now + lock)
                        locked = max(locked, s.locked_until - now)
            self._prune()
            return locked

    # -- bookkeeping -----------------------------------------------------------------------
    def _state(self, key: tuple[str, str], now: float) -> _State:
        s = self._keys.get(key)
        if s is None:
            s = self._keys[key] = _State()
        else:
            self._keys.move_to_end(key)
            if s.in_flight == 0 and now - s.last_failure > self.forget_s:
                s.failures, s.locked_until = 0, -math.inf
        return s

    def _prune(self) -> None:
        while len(self._keys) > self.max_keys:
            key, s = next(iter(self._keys.items()))
            if s.in_flight:  # never forget a key while an attempt holds it
                self._keys.move_to_end(key)
                break
            del self._keys[key]
