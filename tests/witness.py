"""An independent witness of who is inside, for tests: it knows nothing of linkpool.

usage: python witness.py DIR JOB WEIGHT SECONDS

Each job holds ``DIR/alive.JOB.WEIGHT`` with LOCK_EX for as long as it lives (the kernel
drops the lock when it dies, however it dies), then counts the weight of every live job,
its own included, and appends ``JOB TOTAL`` to ``DIR/log`` with O_APPEND. Of two jobs that
overlap, the one that locks second always sees the first, so the largest TOTAL logged is
the largest weight that was ever inside at once.
"""

import fcntl
import os
import sys
import time


def inside(directory: str) -> int:
    total = 0
    for name in os.listdir(directory):
        if not name.startswith("alive."):
            continue
        try:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            total += int(name.rsplit(".", 1)[1])
        finally:
            os.close(fd)
    return total


def main() -> None:
    directory, job, weight, seconds = sys.argv[1:5]
    fd = os.open(os.path.join(directory, f"alive.{job}.{int(weight)}"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    total = inside(directory)
    log = os.open(os.path.join(directory, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(log, f"{job} {total}\n".encode())
    time.sleep(float(seconds))
    os.write(log, f"{job} done\n".encode())


if __name__ == "__main__":
    main()
