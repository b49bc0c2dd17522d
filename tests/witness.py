"""An independent witness of who is inside, for tests: it knows nothing of linkpool.

usage: python witness.py DIR JOB WEIGHT SECONDS

Each job holds ``DIR/alive.JOB.WEIGHT`` with LOCK_EX for as long as it lives (the kernel
drops the lock when it dies, however it dies), then counts the weight of every live job,
its own included, and appends ``JOB TOTAL`` to ``DIR/log`` with O_APPEND. Of two jobs that
overlap, the one that locks second always sees the first, so the largest TOTAL logged is
the largest weight that was ever inside at once. The counting is the benchmarks' witness
(benchmarks/pool_witness.py): two passes, so that a job leaving and another entering
during one pass are not both counted.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from pool_witness import Presence


def main() -> None:
    directory, job, weight, seconds = sys.argv[1:5]
    _, total = Presence(directory, job).enter(int(weight))
    log = os.open(os.path.join(directory, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(log, f"{job} {total}\n".encode())
    time.sleep(float(seconds))
    os.write(log, f"{job} done\n".encode())


if __name__ == "__main__":
    main()
