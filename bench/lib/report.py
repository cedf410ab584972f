"""The goal table every benchmark prints, and its figures as JSON under bench/results/."""

import datetime as dt
import json
import subprocess
import sys
from dataclasses import asdict, dataclass

from .stack import RESULTS, ROOT


@dataclass
class Goal:
    goal: str
    measured: str
    met: bool


def commit() -> str:
    run = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return run.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def finish(name: str, goals: list[Goal], figures: dict) -> bool:
    """Print the table, write bench/results/NAME.json; True if every goal is met."""
    width = max(len(goal.goal) for goal in goals)
    print()
    for goal in goals:
        print(f"{'MET    ' if goal.met else 'NOT MET'}  {goal.goal:<{width}}  {goal.measured}")
    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "command": " ".join(["python", *sys.argv]),
        "goals": [asdict(goal) for goal in goals],
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\n{path.relative_to(ROOT)}  ({record['date']}, {record['commit']})")
    return all(goal.met for goal in goals)
