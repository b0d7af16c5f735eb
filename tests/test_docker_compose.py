"""docker-compose.yml is checked by parsing it (no Docker engine runs here):
its services, that their commands exist in our CLI / Celery app, and that the
environment names it sets are the ones our config reads."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import environment

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_services_are_the_distributed_deployment() -> None:
    assert set(COMPOSE["services"]) >= {"redis", "postgres", "migrate", "worker", "poller", "beat"}


def _option(command: list[str], name: str) -> str | None:
    for word in command:
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
    return None


def test_workers_consume_every_queue_the_app_routes_to() -> None:
    """The poller takes the poll queue on threads, the worker the rest on
    processes; a queue nobody consumes would leave its tasks waiting forever."""
    from monitor.config import Settings
    from workers.app import make_app

    settings = Settings()
    app = make_app(settings)
    routed = {route["queue"] for route in app.conf.task_routes.values()} | {app.conf.task_default_queue}
    consumed: dict[str, str] = {}
    for name in ("worker", "poller"):
        command = COMPOSE["services"][name]["command"]
        assert command[:4] == ["celery", "-A", "workers", "worker"]
        queues = _option(command, "queues")
        assert queues is not None, name
        for queue in queues.split(","):
            consumed[queue] = _option(command, "pool") or "prefork"
    assert set(consumed) == routed == {"monitor", "monitor.poll"}
    assert consumed["monitor.poll"] == "threads"
    assert consumed["monitor"] == "prefork"


def test_redis_keeps_queued_tasks_and_never_evicts() -> None:
    command = COMPOSE["services"]["redis"]["command"]
    joined = " ".join(command)
    assert "--appendonly yes" in joined
    assert "--maxmemory-policy noeviction" in joined


def test_monitor_commands_exist_in_the_cli() -> None:
    runner = CliRunner()
    for name in ("migrate", "api"):
        command = COMPOSE["services"][name]["command"]
        assert command[0] == "monitor"
        # `--help` on the exact subcommand path proves it exists.
        words = [w for w in command[1:] if not w.startswith("-") and w not in ("0.0.0.0", "8080")]
        result = runner.invoke(main, [*words, "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_celery_services_point_at_our_app() -> None:
    from workers import app

    for name, role in (("worker", "worker"), ("poller", "worker"), ("beat", "beat")):
        command = COMPOSE["services"][name]["command"]
        assert command[:4] == ["celery", "-A", "workers", role]
    assert app.main == "news_monitor"
    beat_count = sum(1 for s in COMPOSE["services"].values() if "beat" in (s.get("command") or []))
    assert beat_count == 1  # two beats would double every tick


def test_environment_names_are_read_by_our_config() -> None:
    env = COMPOSE["x-monitor"]["environment"]
    read_by_config = {environment.CONFIG.name, environment.DATABASE_URL.name, environment.BROKER_URL.name}
    monitor_vars = {name for name in env if name.startswith("MONITOR_")}
    assert monitor_vars == read_by_config
    assert env["MONITOR_BROKER_URL"].startswith("redis://redis:")
    assert env["MONITOR_DATABASE_URL"].startswith("postgresql://")
    # The other variables feed ${VARS} of the shipped config's channel examples.
    shipped = (REPO_ROOT / "monitor.yaml").read_text(encoding="utf-8")
    for name in env:
        if not name.startswith("MONITOR_"):
            assert "${" + name + "}" in shipped, name


def test_image_installs_the_wheel_and_leaves_local_state_out() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install -e" not in dockerfile
    assert "pip wheel --no-cache-dir --no-deps -w /wheels ." in dockerfile
    assert "/wheels/news_monitor-*.whl" in dockerfile
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv/", "var/", "**/__pycache__/", ".mypy_cache/", ".pytest_cache/"} <= set(ignored)


def test_api_service_passes_its_token_and_the_shared_environment() -> None:
    api = COMPOSE["services"]["api"]
    environment = api["environment"]
    assert environment["MONITOR_API_TOKEN"] == "${MONITOR_API_TOKEN:-}"
    shared = {name: value for name, value in environment.items() if name != "MONITOR_API_TOKEN"}
    assert shared == COMPOSE["x-monitor"]["environment"]
    assert api["ports"] == ["127.0.0.1:8080:8080"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
