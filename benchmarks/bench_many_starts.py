"""Time and peak memory of ``simulate plot --random-starts N``: a crowd above 64 starts (every
start's iterates reduced to a density and loss bands, 16 paths and flows drawn in full).

    python benchmarks/bench_many_starts.py [N ...]      (default: 100 2000 20000)

Each N runs in a fresh process under /usr/bin/time -v (Linux); prints the wall time and the peak
resident set size. Measured on the shared 2-core machine (issue 19), default optimizers, 100 steps:
before, 200 starts took 6 min 8 s and 205 MiB (every flow integrated; 20000 were refused by the
memory estimate, 5.02 GiB); after, 20000 starts took 54 s and 282 MiB, most of it the 48
flows of the drawn sample (the iterates of all 20000 starts, three optimizers: 8-10 s).
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(starts: int, folder: Path) -> tuple[float, float]:
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "simulate", "plot", "--random-starts",
                           str(starts), "--out", str(folder / f"plot{starts}.png")], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    hours, minutes, seconds = (float(g or 0) for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return 3600 * hours + 60 * minutes + seconds, rss / 1024


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        for n in [int(a) for a in sys.argv[1:]] or [100, 2000, 20000]:
            seconds, mib = measure(n, Path(folder))
            print(f"{n:>7} starts: {seconds:7.1f} s, peak {mib:6.0f} MiB")
