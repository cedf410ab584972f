"""The import contract (pyproject.toml, [tool.importlinter]): `halftime` on top, the waitlist
above the Learning Center, no cycle between the modules of an app, and the waitlist's rooms:
the mail engine below people, people below campaigns, the wiring above them all."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_code_keeps_the_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        ("waitlist/people/signup.py", "from halftime import pages", "project package on top"),
        ("articles/models.py", "from waitlist.people import tokens", "project package on top"),
        (
            "waitlist/engine/messages.py",
            "def later():\n    from waitlist.engine import sending\n",
            "No import cycle",
        ),
        ("waitlist/engine/sending.py", "from waitlist.people import tokens", "mail engine uses"),
        (
            "waitlist/engine/sending.py",
            "from waitlist.models import Subscriber",
            "mail engine uses",
        ),
        ("waitlist/people/signup.py", "from waitlist.campaigns import lifecycle", "People do not"),
        ("waitlist/campaigns/actions.py", "from waitlist import tasks", "do not use the wiring"),
    ],
)
def test_an_import_against_the_contract_is_refused(tmp_path, module, added, broken):
    for package in ("halftime", "waitlist", "articles"):
        shutil.copytree(ROOT / package, tmp_path / package)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\n\n{added}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    # One breach can break two contracts (a room importing one above it is also a cycle).
    assert broken in result.stdout.split("Broken contracts")[1]
