"""Start-up time: ``import simulate`` and ``simulate --help``, against a bare interpreter in this run.

    python benchmarks/bench_startup.py [--runs N] [--top K]

Each command runs in N fresh processes (default 21; the commands take turns); the median and the
fastest wall times are reported beside ``python -c pass`` measured the same way, with the issue's
targets (import < 0.3 s, ``--help`` < 0.5 s). Then one ``python -X importtime`` run of each command
lists what it imported: the K costliest packages (the self time of all their modules) with the
module of simulate whose import brought each in (the offenders to make lazy), and simulate's own
modules that were loaded.
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

PYTHON = sys.executable
#: the console script pip installed beside this interpreter, else the module
SCRIPT = shutil.which("simulate", path=os.path.dirname(PYTHON))
COMMANDS = {
    "python -c pass": ([PYTHON, "-c", "pass"], None),
    "import simulate": ([PYTHON, "-c", "import simulate"], 0.3),
    "simulate --help": ([SCRIPT, "--help"] if SCRIPT else [PYTHON, "-m", "simulate", "--help"], 0.5),
}
#: the same commands under ``-X importtime`` (a console script cannot take interpreter options)
TRACED = {
    "import simulate": [PYTHON, "-X", "importtime", "-c", "import simulate"],
    "simulate --help": [PYTHON, "-X", "importtime", "-m", "simulate", "--help"],
}


def wall_times(commands, runs):
    """Wall times of each command over ``runs`` rounds of fresh processes, the commands taking turns in
    every round so that a busy machine slows them alike (one untimed round first warms the file cache)."""
    times = {label: [] for label in commands}
    for round_ in range(runs + 1):
        for label, argv in commands.items():
            t0 = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            if round_:
                times[label].append(time.perf_counter() - t0)
    return times


def import_times(argv):
    """``(name, self s, importer)`` for every module ``argv`` imported, from ``-X importtime``: the
    importer is the nearest module of simulate whose import ran this one (None if none did)."""
    err = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
    lines = []
    for line in err.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, _, name = line[len("import time:"):].split("|")
            lines.append((name.rstrip(), int(own) / 1e6))
    # a module is reported when its import ends, after the modules it imported (indented deeper):
    # read backwards, each line's importer is the last line seen one level up
    rows, open_ = [], []
    for name, own in reversed(lines):
        depth = (len(name) - len(name.lstrip())) // 2
        del open_[depth:]
        importer = next((m for m in reversed(open_) if m.split(".")[0] == "simulate"), None)
        rows.append((name.strip(), own, importer))
        open_.append(name.strip())
    return rows[::-1]


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 21
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 8
    print(f"wall time over {runs} fresh processes each (python {sys.version.split()[0]}):")
    times = wall_times({label: argv for label, (argv, _) in COMMANDS.items()}, runs)
    reference = statistics.median(times["python -c pass"])
    for label, (_, target) in COMMANDS.items():
        median = statistics.median(times[label])
        line = f"  {label:16s} median {median:6.3f} s  fastest {min(times[label]):6.3f} s"
        if target is not None:
            verdict = "under" if median < target else "OVER"
            line += f"  (+{median - reference:.3f} s over python -c pass; target {target} s: {verdict})"
        print(line)
    for label, argv in TRACED.items():
        rows = import_times(argv)
        cost, by = {}, {}
        for name, own, importer in rows:
            package = name.split(".")[0]
            cost[package] = cost.get(package, 0.0) + own
            by.setdefault(package, {})[importer] = by.get(package, {}).get(importer, 0.0) + own
        packages = sorted((p for p in cost if p != "simulate"), key=lambda p: -cost[p])
        own = sorted(name for name, _, _ in rows if name.split(".")[0] == "simulate")
        print(f"\n{label}: {len(rows)} modules imported ({sum(cost.values()):.3f} s in total under -X importtime); "
              f"the costliest packages (all their modules), and the modules of simulate whose imports ran them:")
        for p in packages[:top]:
            if p in sys.stdlib_module_names:
                where = "stdlib"
            else:
                importers = sorted(by[p].items(), key=lambda kv: -kv[1])[:3]
                where = ", ".join(f"{m or 'not simulate'} {t:.3f} s" for m, t in importers)
            print(f"  {cost[p]:7.3f} s  {p:14s} {where}")
        print(f"  {cost.get('simulate', 0.0):7.3f} s  simulate's own {len(own)} modules: {', '.join(own)}")


if __name__ == "__main__":
    main()
