"""The answers of one `tekton-llm batch` run: the previous output, the journal of a run that did
not finish, and this run's results, one line per id (docs/batch.md, "Resume and crash safety").

One writer at a time: the journal is opened first and locked (`flock`, exclusive, not waiting)
for the whole run, and only the lock holder writes the journal, the temporary file or the output.
A second run on the same output is refused with `BUSY`, so two runs never lose each other's
answers. The lock dies with its process, so a killed run never leaves a stale lock behind.

Every write failure (a full disk, an I/O error) becomes one `CommandError` (`OUTPUT`); the output
is only ever replaced by rename, so it stays whole, and what the journal holds is kept for the
next run. The output keeps its file mode, and the journal gets the same one (it holds the same
answers).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from typing import Any, Dict, Optional, Set

from . import _exit


class Store:
    """The answers so far, one per id; `open()` takes the lock, `compact()` writes the output."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.journal = output + ".journal"
        self.lines: Dict[str, str] = {}  # id → its serialized output line (no newline)
        self.answered: Set[str] = set()
        self.order: Dict[str, int] = {}  # id → input line number, for the final order
        self._fd: Optional[int] = None
        self._mode: Optional[int] = None  # the output's permission bits, when it exists

    # -- the lock --------------------------------------------------------------------------------

    def open(self) -> None:
        """Open and lock the journal (creating it), then read the previous answers. Raises
        CommandError(BUSY) when another run holds the lock."""
        try:
            self._mode = stat.S_IMODE(os.stat(self.output).st_mode)
        except FileNotFoundError:
            self._mode = None
        except OSError as exc:
            raise _exit.output_error(self.output, exc) from None
        try:
            self._fd = self._lock_journal()
            self._mend_torn_end()
        except OSError as exc:
            self._release()
            raise _exit.output_error(self.journal, exc) from None
        self._load()

    def _lock_journal(self) -> int:
        while True:
            fd = os.open(self.journal, os.O_RDWR | os.O_APPEND | os.O_CREAT, self._create_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise _exit.CommandError(
                    "busy",
                    f"another tekton-llm batch is writing {self.output} (it holds {self.journal}); "
                    "wait for it to finish or use another -o",
                    _exit.BUSY,
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us may have finished and removed the journal after we opened it:
            # then our lock is on a file nobody else will open; open the path again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.journal))
            except FileNotFoundError:
                same = False
            if same:
                if self._mode is not None:
                    os.fchmod(fd, self._mode)
                return fd
            os.close(fd)

    def _mend_torn_end(self) -> None:
        """A journal cut mid-line (a full disk, a crash) gets its newline, so that the next
        answer is not glued onto the torn line (which is then ignored as unreadable)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            self._write(b"\n")

    def _create_mode(self) -> int:
        return 0o666 if self._mode is None else self._mode  # the umask applies to 0o666

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    # -- reading ---------------------------------------------------------------------------------

    def _load(self) -> None:
        """Read the previous output, then what a run that did not finish left in the journal."""
        for path in (self.output, self.journal):
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _exit.output_error(path, exc) from None
            with f:
                for n, raw in enumerate(f, 1):
                    try:
                        rec = json.loads(raw)
                        item_id = str(rec["id"])
                    except (ValueError, KeyError, TypeError, RecursionError):
                        if raw.strip():
                            print(f"{path}:{n}: ignoring an unreadable line", file=sys.stderr)
                        continue
                    self._keep(item_id, rec, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _keep(self, item_id: str, rec: Dict[str, Any], line: str) -> None:
        if item_id in self.answered:
            return  # an answer is never replaced
        self.lines[item_id] = line
        if "error" not in rec:
            self.answered.add(item_id)

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        while data:
            data = data[os.write(self._fd, data) :]

    def record(self, item_id: str, rec: Dict[str, Any]) -> None:
        """Keep `rec` and append it to the journal in one write (a crash leaves whole lines)."""
        line = json.dumps(rec, ensure_ascii=False)
        self._keep(item_id, rec, line)
        try:
            self._write((line + "\n").encode("utf-8"))
        except OSError as exc:
            raise _exit.output_error(self.journal, exc) from None

    def compact(self, keep_empty: bool) -> None:
        """Write every kept line to OUTPUT atomically (input order first), then drop the journal
        and the lock. With nothing to keep and no previous output, no output is created unless
        `keep_empty` (a run that finished: its empty answer set is a result)."""
        if self._fd is None:
            return
        try:
            if self.lines or self._mode is not None or keep_empty:
                self._replace_output()
            os.remove(self.journal)
        except OSError as exc:
            raise _exit.output_error(self.output, exc) from None
        finally:
            self._release()

    def _replace_output(self) -> None:
        last = len(self.order) + 1
        ids = sorted(self.lines, key=lambda i: self.order.get(i, last))  # stable: unknown ids keep their order
        tmp = self.output + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._create_mode())
        try:
            if self._mode is not None:
                os.fchmod(fd, self._mode)  # an existing .tmp keeps its own mode otherwise
            with open(fd, "w", encoding="utf-8", closefd=False) as f:
                for i in ids:
                    f.write(self.lines[i])
                    f.write("\n")
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.remove(tmp)  # a full disk leaves the old output and the journal, not a torn copy
            raise
        os.close(fd)
        os.replace(tmp, self.output)
