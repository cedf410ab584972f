"""Every benchmark and drill of the project, one after another, then one table of their goals.

    .venv/bin/python bench/run_all.py             # full size, as docs/ reports them (~30 min)
    .venv/bin/python bench/run_all.py --quick     # shorter runs, smaller audiences (~12 min)
    .venv/bin/python bench/run_all.py --only signup,drill_signups

Each step is one of the scripts beside this one, run as its own process with its output shown as
it goes; each writes its figures to bench/results/<name>*.json, and this reads their goals from
there. A step that cannot run (no wrk, PostgreSQL down…) is reported and the rest still run. The
summary goes to bench/results/run_all.json. Exit status: 0 when every step ran and met its goals,
1 when a goal was not met, 2 when a step could not run.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PYTHON,
    RESULTS,
    ROOT,
    machine,
    run_record,
    say,
    verdict,
    write_results,
)


@dataclass(frozen=True)
class Step:
    name: str  # the script, bench/<name>.py, and its results, bench/results/<name>*.json
    title: str
    quick: tuple[str, ...] = ()  # the arguments of --quick


STEPS = [
    Step("article_page", "Learning Center article page", ("--duration", "5", "--rounds", "2")),
    Step("signup", "Waitlist signup", ("--duration", "5", "--rounds", "2", "--emails", "100")),
    Step("signup_latency", "Signup latency at 200/s", ("--seconds", "10", "--rounds", "2")),
    Step("signup_peer", "Signup against django-newsletter", ("--seconds", "5", "--rounds", "2")),
    Step("confirmations", "Confirmations: a burst and a backlog", ("--signups", "5000")),
    Step("campaign", "Launch-update campaign send", ("--subscribers", "20000")),
    Step(
        "drill_signups",
        "Drills 1-3: signups under load, Redis and PostgreSQL down",
        ("--signups", "5000", "--redis-down", "15"),
    ),
    Step(
        "drill_campaign",
        "Drills 4-5: worker killed, two beats, SMTP down",
        ("--subscribers", "5000", "--outage-subscribers", "3000", "--smtp-down", "30"),
    ),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs and smaller audiences, for a check"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated steps: " + ", ".join(s.name for s in STEPS)
    )
    args = parser.parse_args()
    names = {s.name for s in STEPS}
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        parser.error(
            f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}"
        )
    return args


def newest_results(step: Step, since: float) -> dict | None:
    """The results file the step wrote during this run, if it wrote one."""
    written = [
        path
        for path in RESULTS.glob(f"{step.name}*.json")
        if path.stat().st_mtime >= since and not path.name.startswith("run_all")
    ]
    if not written:
        return None
    return json.loads(max(written, key=lambda p: p.stat().st_mtime).read_text())


def goals_of(results: dict) -> list[dict]:
    """Each benchmark's goals as {goal, measured, met}; the article page words its own."""
    goals = []
    for goal in results.get("goals", []):
        if "goal" in goal:
            goals.append(goal)
        else:
            goals.append(
                {
                    "goal": f"{goal['target']} >= {goal['min_share_of_bare']:.0%} of bare req/s",
                    "measured": f"{goal['share']:.0%}",
                    "met": goal["met"],
                }
            )
    return goals


def run_step(step: Step, quick: bool) -> dict:
    command = [str(PYTHON), f"bench/{step.name}.py", *(step.quick if quick else ())]
    say(f"{step.title}: {' '.join(command[1:])}")
    started = time.time()
    exit_status = subprocess.run(command, cwd=ROOT).returncode
    results = newest_results(step, started) if exit_status == 0 else None
    return {
        "step": step.name,
        "title": step.title,
        "command": " ".join([".venv/bin/python", *command[1:]]),
        "exit_status": exit_status,
        "seconds": round(time.time() - started, 1),
        "results": None if results is None else results.get("date"),
        "goals": [] if results is None else goals_of(results),
    }


def print_table(runs: list[dict]) -> None:
    print()
    print("| benchmark | goal | measured | |")
    print("|---|---|---:|---|")
    for run in runs:
        if run["exit_status"] != 0 or not run["goals"]:
            reason = f"did not run (exit status {run['exit_status']})"
            if run["exit_status"] == 0:
                reason = "wrote no results"
            print(f"| {run['title']} | — | — | {reason} |")
            continue
        for goal in run["goals"]:
            print(
                f"| {run['title']} | {goal['goal']} | {goal['measured']} | {verdict(goal['met'])} |"
            )
    print()
    for run in runs:
        print(f"{run['step']}: {run['seconds']:.0f} s, `{run['command']}`")


def main() -> None:
    args = parse_args()
    steps = [s for s in STEPS if not args.only or s.name in args.only]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    started = dt.datetime.now(dt.UTC)
    runs = []
    try:
        for step in steps:
            runs.append(run_step(step, args.quick))
    except KeyboardInterrupt:
        print("\ninterrupted; the steps so far:")
    print_table(runs)
    path = write_results(
        "run_all",
        {
            **run_record("run_all", started, machine()),
            "commit": commit,
            "quick": args.quick,
            "runs": runs,
        },
    )
    print(f"\nresults: {path.relative_to(ROOT)}")
    if any(run["exit_status"] != 0 or not run["goals"] for run in runs):
        sys.exit(2)
    if any(goal["met"] is False for run in runs for goal in run["goals"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
