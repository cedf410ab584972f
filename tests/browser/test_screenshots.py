"""The screenshot script in the repo (tools/screenshots.py) runs, so docs/screenshots cannot rot:
the suite runs it, as a person would, against a live server into a temporary folder."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import worker_env
from tests.factories import ArticleFactory, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def test_the_screenshot_script_shoots_every_page_at_both_sizes(live_server, smtp_sink, tmp_path):
    ArticleFactory(title="Reading a lab report")
    var = tmp_path / "var"
    var.mkdir()
    (var / "admin-password.txt").write_text("screenshots admin password")
    StaffFactory(username="admin", is_superuser=True, password="screenshots admin password")
    shots = tmp_path / "shots"
    # The live server's database and settings, and the admin `dev.py run` would have made.
    env = {**os.environ, **worker_env(smtp_sink), "VAR_DIR": str(var)}
    done = subprocess.run(
        [sys.executable, "tools/screenshots.py", live_server.url, str(shots)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sizes = {path.name: Image.open(path).size for path in shots.glob("*.png")}
    assert sizes == {
        f"{name}-{size}.png": dimensions
        for name in (
            "home", "health-data-policy", "article", "article-sources", "article-disclosures",
            "reviewer", "referral", "invite",
            "preferences", "start", "campaign", "campaign-body", "campaign-confirm", "dashboard",
            "data-map", "import", "paces",
            "warm-up", "journeys", "system-email", "article-list", "findings", "article-edit",
            "article-review", "article-review-panel",
        )
        for size, dimensions in (("phone", (390, 844)), ("desktop", (1280, 800)))
    }  # fmt: skip
