"""Worker processes for validation: `python -m edgeq.validate.pool`, one pickled request in, one reply out.

Why not multiprocessing: its spawn start method imports the caller's main script again in every worker, so a
user script that calls `edgeq.validate_model` without an `if __name__ == "__main__":` guard would start
workers recursively and fail; forking instead is unsafe once TensorFlow's threads run in the parent. A plain
child process of this module imports nothing of the caller's.

Protocol on the child's stdin/stdout: the parent sends an EngineConfig, then Parts; the child answers each with
("ok", value) or ("error", exception). C code that prints to stdout in the child is sent to stderr, so it
cannot corrupt the replies.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from typing import Any

from edgeq.errors import EdgeqError

_DIED = "a validation worker process died (out of memory?); run again with --jobs 1"


class WorkerPool:
    """`jobs` child processes, each with the interpreters of `config`; replies are read by one thread per
    child, so a large reply never blocks the parent sending the next request."""

    def __init__(self, jobs: int, config: Any) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.replies: list[queue.Queue[tuple[str, Any]]] = []
        try:
            for _ in range(jobs):
                proc = subprocess.Popen([sys.executable, "-m", "edgeq.validate.pool"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
                replies: queue.Queue[tuple[str, Any]] = queue.Queue()
                threading.Thread(target=_read_replies, args=(proc, replies), daemon=True).start()
                self.procs.append(proc)
                self.replies.append(replies)
                self._send(len(self.procs) - 1, config)
        except OSError as exc:
            self.close()
            raise EdgeqError(f"could not start a validation worker process: {exc}; run again with --jobs 1") from None
        # the first reply of each worker says its interpreters opened; it is read before its first result, so
        # the caller works on while the workers start
        self.started = [False] * jobs

    def _send(self, worker: int, message: Any) -> None:
        stdin = self.procs[worker].stdin
        assert stdin is not None
        try:
            pickle.dump(message, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise EdgeqError(_DIED) from None

    def submit(self, worker: int, part: Any) -> None:
        """Send one request to `worker`; `reply(worker)` returns the answers in the order they were sent."""
        self._send(worker, part)

    def reply(self, worker: int) -> Any:
        """The next reply of `worker` (its exception raised here, as the caller's own)."""
        if not self.started[worker]:
            self.started[worker] = True
            self.reply(worker)
        status, value = self.replies[worker].get()
        if status == "error":
            raise value
        if status == "died":
            raise EdgeqError(_DIED)
        return value

    def close(self) -> None:
        """End every child: closing its stdin ends its loop; one that does not end within seconds is killed."""
        for proc in self.procs:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):  # a child that died has closed its end already
                    proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def _read_replies(proc: subprocess.Popen[bytes], replies: queue.Queue[tuple[str, Any]]) -> None:
    stdout = proc.stdout
    assert stdout is not None
    while True:
        try:
            replies.put(pickle.load(stdout))
        except (EOFError, OSError, pickle.UnpicklingError):
            replies.put(("died", None))
            return


def main() -> None:
    """The child's loop: open the interpreters of the first message, then run each Part sent."""
    from edgeq.validate.workers import start_engines

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray C-level prints go to stderr, never into the replies
    requests = sys.stdin.buffer
    engines = None
    while True:
        try:
            message = pickle.load(requests)
        except EOFError:
            return
        try:
            if engines is None:
                engines = start_engines(message)
                reply: tuple[str, Any] = ("ok", None)
            else:
                reply = ("ok", engines.run(message))
        except EdgeqError as exc:
            reply = ("error", exc)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it as one line
            reply = ("error", EdgeqError(f"validation worker failed: {type(exc).__name__}: {exc}"))
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    main()
