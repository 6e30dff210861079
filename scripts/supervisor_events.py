"""supervisord event listener for `make run` (scripts/supervisord.conf). Usage: MARKER_FILE.

- PROCESS_STATE_EXITED, a part died while running: whatever it left in its process group is
  killed (gunicorn's workers, Celery's pool processes, PostgreSQL's backends), so that the part's
  next start finds neither its port nor its shared memory held by orphans, and a later Ctrl-C
  leaves nothing behind. supervisord starts each part as the leader of a process group of its
  own, so the group's id is the dead part's pid; the part's new start has another pid.
- PROCESS_STATE_FATAL, a part given up after repeated fast crashes: its name goes to MARKER_FILE
  (scripts/run.sh reports it) and supervisord is asked to stop everything.

Its own lines go to stderr, which supervisord writes to logs/events.log.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from supervisor import childutils


def say(message: str) -> None:
    print(f"[events] {message}", file=sys.stderr, flush=True)


def clear_group(pgid: int, name: str) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return  # the usual case: the part took nothing with it
    say(f"killed what {name} (pid {pgid}) left in its process group")


def give_up(name: str, marker: Path) -> None:
    marker.write_text(f"{name}\n")
    say(f"{name} entered FATAL: stopping everything")
    os.kill(os.getppid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    marker = Path(argv[1])
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        event = childutils.get_headers(payload)
        if headers["eventname"] == "PROCESS_STATE_EXITED":
            clear_group(int(event["pid"]), event["processname"])
        elif headers["eventname"] == "PROCESS_STATE_FATAL":
            give_up(event["processname"], marker)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
