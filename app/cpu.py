"""Pure, CPU-heavy functions (diff analysis, prompt building, issue parsing,
redaction of text sent to the agent) run here, in worker processes, so that
the event loop that answers webhooks and `/health` and renews job leases keeps
running while they work.

    analysis, found = await cpu.run(scan.analyze, files, rules, seconds=120)

Processes, not threads, by measurement (`benchmarks/loop_lag.py --compare`:
the analysis of a 3,000-file, 300,000-line PR beside a 10 ms ticker, uvloop,
2 shared cores): on the loop, one 21.6 s stall; in a thread, ticks ran
5.4 ms late at the median and 14 ms at p99, because pure-Python code lets go
of the GIL only every `sys.getswitchinterval()` (5 ms) and the loop waits for
it at every wake-up; in a process, 0.3 ms and 6 ms, and the work gets a core
of its own. Above all CPython's `re` holds the GIL for a whole match: one
1-second match of a backtracking pattern stalled the loop 1.16 s from a
thread, and 17 ms at most from a process; a thread cannot be stopped, a
process can be killed. The price: the arguments are pickled (15 MB of
patches: 25-45 ms in one call, so a long list goes in slices of 100 items,
the loop getting the GIL between them) and each process starts once
(~0.4 s, on first use).

Each call runs in one of at most `WORKERS` processes (one per core, at most
2), one call at a time each; more calls wait their turn. A call that takes
longer than its `seconds` has its process killed (the next call starts a new
one) and raises `TooSlow`, so a caller can say "not analysed" instead of
hanging. The processes are `python -m app.cpu`, started lazily; they inherit
no socket, lock or thread of the service (the tests run the service
in-process), ignore SIGINT (Ctrl-C reaches the whole process group: the
service decides when they stop), and exit when the service's end of their
socket closes, even if the service was killed. `shutdown()` (the service, on
exit) stops them."""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
_Call = Callable[["_Worker"], Any]

WORKERS = max(1, min(2, os.cpu_count() or 1))
DEFAULT_SECONDS = 20.0  # a prompt, an issue, a follow-up: milliseconds when all is well
SLICE = 100  # items of a long list argument pickled at a time


class TooSlow(Exception):
    """The call did not finish within its time limit; its process was killed."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"{name} did not finish within {seconds:g} s")
        self.name = name
        self.seconds = seconds


class WorkerLost(Exception):
    """The worker process died during the call (killed, out of memory, shut down)."""


class _Parts:
    """Stands, in a call's arguments, for a long list sent in slices after it."""

    def __init__(self, count: int) -> None:
        self.count = count


def _messages(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> Iterator[bytes]:
    """A call as messages: how many slices each long list argument comes in,
    the call with those lists left out, then the slices. No one pickling of
    15 MB of patches holds the GIL (and so the event loop) for 25-45 ms: a
    slice takes about a millisecond, and the loop gets the GIL between two."""
    long = [a for a in args if isinstance(a, list) and len(a) > SLICE]
    counts = [-(-len(a) // SLICE) for a in long]
    yield pickle.dumps(counts)
    shown = iter(counts)
    head = tuple(_Parts(next(shown)) if isinstance(a, list) and len(a) > SLICE else a for a in args)
    yield pickle.dumps((fn, head, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    for a in long:
        for start in range(0, len(a), SLICE):
            yield pickle.dumps(a[start : start + SLICE], protocol=pickle.HIGHEST_PROTOCOL)


def _child(conn: Connection) -> None:
    """A worker process: call what arrives, send back the result or the error."""
    while True:
        try:
            counts = pickle.loads(conn.recv_bytes())  # noqa: S301 - from the service itself
            head = conn.recv_bytes()
            slices = [[conn.recv_bytes() for _ in range(n)] for n in counts]
        except (EOFError, OSError):
            return  # the service closed its end, or died
        try:
            fn, args, kwargs = pickle.loads(head)  # noqa: S301
            lists = iter(slices)
            args = tuple(
                [item for data in next(lists) for item in pickle.loads(data)]  # noqa: S301
                if isinstance(a, _Parts)
                else a
                for a in args
            )
            del slices, lists
            reply: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except Exception as exc:
            reply = (False, exc)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a result or an error that cannot be pickled
            conn.send((False, RuntimeError(f"unpicklable {type(exc).__name__}: {exc}")))


class _Worker:
    """One process: `python -m app.cpu FD`, talking over a socket pair. Not
    `multiprocessing`'s spawn, which runs the service's main script again in
    the child (any script without a `__main__` guard would start a service)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Whatever it was doing, nobody waits for it any more. The thread using
        `conn` sees the end of the pipe; only that thread closes it."""
        if self.alive():
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class Pool:
    """At most `workers` processes, each serving one call at a time for one
    daemon thread; the calls beyond that wait in a queue. Daemon threads, so a
    call in flight never holds up the interpreter's exit (its process then
    sees the end of its pipe and exits too)."""

    def __init__(self, workers: int = WORKERS) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[Any], _Call] | None] | None = None
        self._threads: list[threading.Thread] = []
        self._processes: set[_Worker] = set()

    def _submit(self, call: _Call) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self._threads = [
                    threading.Thread(
                        target=self._serve, args=(self._queue,), name=f"cpu-{i}", daemon=True
                    )
                    for i in range(self.workers)
                ]
                for thread in self._threads:
                    thread.start()
            self._queue.put((future, call))
        return future

    def _serve(self, calls: queue.SimpleQueue[tuple[Future[Any], _Call] | None]) -> None:
        """One thread: take a call, run it in this thread's process, repeat."""
        worker: _Worker | None = None
        while (item := calls.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it started
            try:
                if worker is None or not worker.alive():
                    worker = self._start()
                future.set_result(call(worker))
            except (TooSlow, WorkerLost) as exc:
                self._discard(worker)
                worker = None
                future.set_exception(exc)
            except BaseException as exc:
                future.set_exception(exc)
        self._discard(worker)

    def _start(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            self._processes.add(worker)
        return worker

    def _discard(self, worker: _Worker | None) -> None:
        if worker is None:
            return
        with self._lock:
            self._processes.discard(worker)
        worker.kill()
        with contextlib.suppress(OSError):
            worker.conn.close()

    @staticmethod
    def _call(name: str, seconds: float, fn: Callable[..., T], args: Any, kwargs: Any) -> _Call:
        """What a pool thread does with its process: pickle, send, wait at most
        `seconds` for the reply."""

        def call(worker: _Worker) -> T:
            try:
                for message in _messages(fn, args, kwargs):
                    worker.conn.send_bytes(message)
                if not worker.conn.poll(seconds):
                    raise TooSlow(name, seconds)
                ok, value = worker.conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerLost(f"the process running {name} stopped") from exc
            if ok:
                return value  # type: ignore[no-any-return]
            raise value

        return call

    async def run(
        self, fn: Callable[..., T], /, *args: Any, seconds: float = DEFAULT_SECONDS, **kwargs: Any
    ) -> T:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        future = self._submit(self._call(name, seconds, fn, args, kwargs))
        import asyncio  # here: a worker process, which never awaits, does without it

        return await asyncio.wrap_future(future)  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        """Stop every process; a call in flight raises `WorkerLost`, one still
        queued is cancelled. The next `run` starts afresh."""
        with self._lock:
            calls, self._queue = self._queue, None
            threads, self._threads = self._threads, []
            processes, self._processes = self._processes, set()
        if calls is None:
            return
        with contextlib.suppress(queue.Empty):
            while (item := calls.get_nowait()) is not None:
                item[0].cancel()
        for _ in threads:
            calls.put(None)
        for worker in processes:
            worker.kill()
        for thread in threads:
            thread.join(5)


_pool = Pool()


async def run(
    fn: Callable[..., T], /, *args: Any, seconds: float = DEFAULT_SECONDS, **kwargs: Any
) -> T:
    """`fn(*args, **kwargs)` in a worker process; raises `TooSlow` after `seconds`.

    `fn` must be a module-level function (it is pickled by name) and its
    arguments and result picklable."""
    return await _pool.run(fn, *args, seconds=seconds, **kwargs)


def shutdown() -> None:
    """Stop the worker processes (the service calls this when it stops)."""
    _pool.shutdown()


if __name__ == "__main__":  # a worker process, started by `_Worker`
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from app import cpu  # the module proper: what arrives pickled refers to its classes

    cpu._child(Connection(int(sys.argv[1])))
