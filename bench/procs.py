"""Process facts for the benchmarks, read from ``/proc`` (Linux): resident memory, and which
process is the Temporal dev server that keeps a given database file."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def rss_kib(pid: int | str) -> int:
    """The resident set (``VmRSS``) of a process in KiB; ``"self"`` for this one (0: unknown)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def server_pid(database: Path, binary: str = "temporal") -> int | None:
    """The pid of the ``temporal`` process started with this database file, if one runs."""
    wanted = str(database)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            args
            and Path(args[0].decode(errors="replace")).name == binary
            and any(a.decode(errors="replace") == wanted for a in args)
        ):
            return int(entry.name)
    return None
