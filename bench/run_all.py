"""Every benchmark and drill, one after another, then one table of all their goals.

    .venv/bin/python bench/run_all.py                    # full size, as docs/ reports them
    .venv/bin/python bench/run_all.py --quick            # shorter runs, smaller audiences
    .venv/bin/python bench/run_all.py --only signup,drill_signups
    .venv/bin/python bench/run_all.py --scale            # also the million-person run (long)

Each step is a script beside this one, run as a process of its own with its output shown as it
goes; it writes bench/results/<step>.json (`lib.report.finish`), and this reads the goals from
there. A step that fails to run is reported and the rest still run. The table and every step's
command go to bench/results/run_all.json. Exit status 1 unless every step ran and met its goals.
"""

import argparse
import json
import subprocess
import sys
import time

from lib.report import Goal, finish
from lib.stack import BIN, RESULTS, ROOT

# (step, title, the arguments of --quick)
STEPS = [
    ("article_page", "Article page", ["--duration", "5", "--rounds", "2"]),
    ("signup", "Signup", ["--duration", "5", "--rounds", "2", "--emails", "100"]),
    ("signup_latency", "Signup latency", ["--seconds", "10", "--rounds", "2"]),
    ("signup_peer", "Signup vs django-newsletter", ["--seconds", "5", "--rounds", "2"]),
    ("join_timing", "Join timing by history", ["--each", "300"]),
    ("confirmations", "Confirmations", ["--signups", "5000"]),
    ("import_list", "Importing a list", ["--rows", "20000", "--upload-mb", "1"]),
    ("campaign", "Campaign send", ["--subscribers", "20000", "--rounds", "1"]),
    ("drill_signups", "Drills 1-3", ["--signups", "5000", "--redis-down", "15"]),
    (
        "drill_campaign",
        "Drills 4-5",
        ["--subscribers", "5000", "--outage-subscribers", "3000", "--smtp-down", "30"],
    ),
    ("drill_launch", "Drill 8: launch day", ["--people", "5000", "--canary-people", "5000"]),
    ("invitations", "Invitations and journeys", ["--wave", "5000", "--people", "100000"]),
    ("drill_slow_clients", "Drill 6", ["--seconds", "10"]),
    ("drill_restore", "Drill 7", ["--rate", "50", "--seconds", "10"]),
    ("drill_hosts", "Drill 9: past one machine", ["--people", "10000", "--down", "5"]),
]
# Run with --scale, or when named in --only: they take long.
OPTIONAL = [
    ("scale", "A million people", ["--big", "100000", "--rounds", "1"]),
]


def run(step: str, title: str, args: list[str]) -> tuple[list[Goal], dict]:
    command = [str(BIN / "python"), f"bench/{step}.py", *args]
    print(f"\n=== {title}: {' '.join(command[1:])}", flush=True)
    started = time.time()
    status = subprocess.run(command, cwd=ROOT).returncode
    results = RESULTS / f"{step}.json"
    record = {"command": " ".join(command[1:]), "exit_status": status,
              "seconds": round(time.time() - started)}  # fmt: skip
    if not results.exists() or results.stat().st_mtime < started:
        return [Goal(f"{title}: runs to the end", f"exit status {status}", False)], record
    goals = [
        Goal(f"{title}: {g['goal']}", g["measured"], g["met"])
        for g in json.loads(results.read_text())["goals"]
    ]
    return goals, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, smaller audiences")
    parser.add_argument("--only", default="", help="steps, comma-separated")
    parser.add_argument("--scale", action="store_true", help="also the optional long steps")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    unknown = only - {step for step, _, _ in STEPS + OPTIONAL}
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}")
    goals, records = [], {}
    for step, title, quick in STEPS + OPTIONAL:
        optional = (step, title, quick) in OPTIONAL
        if (step in only) if only else (args.scale or not optional):
            step_goals, records[step] = run(step, title, quick if args.quick else [])
            goals += step_goals
    if not finish("run_all", goals, {"quick": args.quick, "steps": records}):
        sys.exit(1)


if __name__ == "__main__":
    main()
