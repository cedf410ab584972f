"""The settings module on its own, as a fresh clone holds it: what it reads, what it leaves."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_URL", "VAR_DIR")


def project_in(folder: Path) -> Path:
    """The settings module alone in an otherwise empty project folder."""
    package = folder / "project" / "halftime"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "halftime" / "settings.py", package / "settings.py")
    return package.parent


def read_settings(project: Path, *names: str, **env: str) -> list[str]:
    code = "import halftime.settings as s; " + "; ".join(f"print(s.{n})" for n in names)
    clean = {k: v for k, v in os.environ.items() if k not in SERVERS}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env={**clean, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def everything_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_importing_the_settings_in_an_empty_project_creates_nothing(tmp_path):
    project = project_in(tmp_path)
    before = everything_in(tmp_path)
    read_settings(project, "VAR_DIR", "CELERY_BROKER_TRANSPORT_OPTIONS")
    assert everything_in(tmp_path) == before


def test_var_dir_set_in_the_env_file_holds_every_local_file(tmp_path):
    project = project_in(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (project / ".env").write_text(f"VAR_DIR={elsewhere}\n")
    database, broker, outbox, cache = read_settings(
        project,
        "DATABASES['default']['NAME']",
        "CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']",
        "EMAIL_FILE_PATH",
        "CACHES['default']['LOCATION']",
    )
    assert database == str(elsewhere / "db.sqlite3")
    for folder in (broker, outbox, cache):
        assert Path(folder).is_relative_to(elsewhere), folder
    assert not elsewhere.exists()


def test_the_environment_wins_over_the_env_file(tmp_path):
    project = project_in(tmp_path)
    (project / ".env").write_text(f"VAR_DIR={tmp_path / 'from-file'}\n")
    (var_dir,) = read_settings(project, "VAR_DIR", VAR_DIR=str(tmp_path / "from-shell"))
    assert var_dir == str(tmp_path / "from-shell")


def test_an_empty_var_dir_means_the_default(tmp_path):
    project = project_in(tmp_path)
    (project / ".env").write_text("VAR_DIR=\n")
    assert read_settings(project, "VAR_DIR") == [str(project / "var")]


def test_create_local_dirs_makes_every_folder_the_embedded_default_writes_to(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in SERVERS}
    var = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "manage.py", "create_local_dirs"],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(var)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert {p for p in everything_in(var)} == {
        "broker",
        "broker/queue",
        "broker/processed",
        "broker/control",
        "outbox",
        "cache",
        "ratelimit",
    }
