"""Config loading: validation errors name the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import ConfigError, Settings, environment, load_config, load_config_text, parse_duration
from monitor.config.fields import DURATION_PATTERN

REPO_ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_shipped_config_is_valid() -> None:
    settings = load_config(REPO_ROOT / "monitor.yaml")
    assert {t.id for t in settings.topics} == {"ai-likeness", "strike-negotiations", "digital-doubles"}
    assert settings.embedded
    assert settings.database_url.startswith("sqlite:///")
    languages = {f.language for f in settings.feeds}
    assert {"en", "fr"} <= languages


def test_unknown_field_names_file_line_and_field(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        "feeds:\n  - url: https://example.org/rss\n  - url: https://example.org/b\n    intervall: 5m\n",
    )
    assert problems == [
        f"{tmp_path / 'monitor.yaml'}:4: feeds[1].intervall: unknown field (check its spelling)"
    ]


def test_bad_value_points_at_its_line(tmp_path: Path) -> None:
    text = "topics:\n  - id: strikes\n    name: Strikes\n    threshold: 1.5\n"
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'monitor.yaml'}:4: topics[0].threshold: ")
    assert "less than or equal to 1" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        "poll_interval: often\n"
        "feeds:\n"
        "  - url: file:///etc/passwd\n"
        "channels:\n"
        "  - name: slack\n"
        "    url: slack://${NEWS_MONITOR_TEST_UNSET_VAR}\n"
    )
    problems = problems_of(tmp_path, text)
    joined = "\n".join(problems)
    assert ":1: poll_interval: 'often' is not a duration" in joined
    assert ":3: feeds[0].url: unsupported URL 'file:///etc/passwd'" in joined
    assert ":6: channels[0].url: environment variable NEWS_MONITOR_TEST_UNSET_VAR is not set" in joined
    assert len(problems) == 3


def test_env_interpolation_keeps_secrets_out_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NM_HOOK_TOKEN", "s3cret")
    path = write(tmp_path, "channels:\n  - name: hook\n    url: json://127.0.0.1:9/${NM_HOOK_TOKEN}\n")
    settings = load_config(path)
    assert settings.channel("hook").urls == ("json://127.0.0.1:9/s3cret",)


def test_references_between_sections_name_the_line_of_the_reference(tmp_path: Path) -> None:
    text = (
        "channels:\n"
        "  - {name: desk, url: 'json://127.0.0.1:9/x'}\n"
        "  - {name: desk, url: 'json://127.0.0.1:9/y'}\n"
        "alerts:\n"
        "  operator_channel: ops\n"
        "topics:\n"
        "  - id: t1\n"
        "    name: T\n"
        "    channels:\n"
        "      - desk\n"
        "      - nowhere\n"
    )
    path = tmp_path / "monitor.yaml"
    assert problems_of(tmp_path, text) == [
        f"{path}:3: channels[1].name: channel 'desk' is defined twice",
        f"{path}:11: topics[0].channels[1]: topic 't1' sends to channel 'nowhere', which is not defined",
        f"{path}:5: alerts.operator_channel: operator_channel 'ops' is not defined",
    ]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "feeds:\n  - url: [unclosed\n")
    assert problem.startswith(f"{tmp_path / 'monitor.yaml'}:3: not valid YAML")


def test_environment_overrides_server_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://u@db/monitor")
    monkeypatch.setenv("MONITOR_BROKER_URL", "redis://redis:6379/0")
    settings = load_config_text("database_url: sqlite:///x.db\n")
    assert settings.database_url == "postgresql://u@db/monitor"
    assert not settings.embedded


def test_visibility_timeout_must_cover_twice_the_longest_task(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "workers:\n  classify_time_limit: 10m\n  visibility_timeout: 15m\n")
    assert problem.startswith(
        f"{tmp_path / 'monitor.yaml'}:3: workers.visibility_timeout: visibility_timeout (900s) must be at least twice"
    )
    # Not written in the file: the problem points at the section.
    (problem,) = problems_of(tmp_path, "alerts: {}\nworkers:\n  classify_time_limit: 10m\n")
    assert problem.startswith(f"{tmp_path / 'monitor.yaml'}:2: workers.visibility_timeout: ")


def test_default_visibility_timeout_is_at_least_twice_the_hard_limits() -> None:
    workers = load_config_text("{}").workers
    assert workers.visibility_timeout >= 2 * workers.longest_time_limit


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


ALL_DURATIONS = (
    "poll_interval: 2m\n"
    "fetch: {timeout: 1m, max_backoff: 2h, silent_after: 3d}\n"
    "feeds: [{url: 'https://example.org/rss', interval: 5m, min_interval: 2m, max_interval: 3h}]\n"
    "polling: {min_interval: 90s, max_interval: 2h}\n"
    "retention: {articles: 30d, matches: 180d, deliveries: 7d, interval: 1h}\n"
    "alerts: {backoff_base: 1m, backoff_max: 2h, send_timeout: 1m, lease: 10m}\n"
    "workers: {beat_tick: 30s, sweep_interval: 1m, poll_time_limit: 2m, classify_time_limit: 5m,\n"
    "          deliver_time_limit: 3m, visibility_timeout: 15m, unacked_restore_interval: 10s,\n"
    "          learn_time_limit: 6m, relearn_check: 2m}\n"
    "learning: {interval: 30m}\n"
    "stories: {window: 2d}\n"
    "channels: [{name: desk, url: 'json://127.0.0.1:9/x', digest: {every: 6h}}]\n"
    "web: {session_lifetime: 7d}\n"
)


def _duration_paths(schema: dict[str, Any], node: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of the fields whose JSON Schema is the duration's."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    found: set[str] = set()
    for name, field_schema in node.get("properties", {}).items():
        options = field_schema.get("anyOf", [field_schema])
        # An optional duration nests the duration's own anyOf.
        flat = [inner for option in options for inner in option.get("anyOf", [option])]
        if any(option.get("pattern") == DURATION_PATTERN for option in flat):
            found.add(prefix + name)
        for option in options:
            target = option.get("items", option)
            if "$ref" in target:
                found |= _duration_paths(schema, target, f"{prefix}{name}.")
    return found


def test_every_duration_field_takes_units(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, ALL_DURATIONS))
    assert settings.poll_interval == 120
    assert (settings.fetch.timeout, settings.fetch.max_backoff, settings.fetch.silent_after) == (
        60,
        7200,
        259200,
    )
    assert (settings.feeds[0].interval, settings.feeds[0].min_interval, settings.feeds[0].max_interval) == (
        300,
        120,
        10800,
    )
    assert (settings.polling.min_interval, settings.polling.max_interval) == (90, 7200)
    retention = settings.retention
    assert (retention.articles, retention.matches, retention.deliveries, retention.interval) == (
        30 * 86400,
        180 * 86400,
        7 * 86400,
        3600,
    )
    alerts = settings.alerts
    assert (alerts.backoff_base, alerts.backoff_max, alerts.send_timeout, alerts.lease) == (60, 7200, 60, 600)
    workers = settings.workers
    assert (workers.beat_tick, workers.sweep_interval, workers.unacked_restore_interval) == (30, 60, 10)
    assert (workers.poll_time_limit, workers.classify_time_limit, workers.deliver_time_limit) == (
        120,
        300,
        180,
    )
    assert workers.visibility_timeout == 900
    assert (workers.learn_time_limit, workers.relearn_check, settings.learning.interval) == (360, 120, 1800)
    assert settings.stories.window == 2 * 86400
    digest = settings.channels[0].digest
    assert digest is not None and digest.every == 6 * 3600
    assert settings.web.session_lifetime == 7 * 86400
    # The file above writes every duration field the schema has.
    schema = Settings.model_json_schema()
    written = {
        "poll_interval",
        *(f"fetch.{name}" for name in ("timeout", "max_backoff", "silent_after")),
        *(f"feeds.{name}" for name in ("interval", "min_interval", "max_interval")),
        "polling.min_interval",
        "polling.max_interval",
        *(f"retention.{name}" for name in ("articles", "matches", "deliveries", "interval")),
        *(f"alerts.{name}" for name in ("backoff_base", "backoff_max", "send_timeout", "lease")),
        *(
            f"workers.{name}"
            for name in (
                "beat_tick",
                "sweep_interval",
                "poll_time_limit",
                "classify_time_limit",
                "deliver_time_limit",
                "visibility_timeout",
                "unacked_restore_interval",
                "learn_time_limit",
                "relearn_check",
            )
        ),
        "learning.interval",
        "stories.window",
        "channels.digest.every",
        "web.session_lifetime",
    }
    assert _duration_paths(schema, schema) == written


def test_config_schema_command_prints_the_json_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "absent.yaml"), "config", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"feeds", "channels", "topics", "workers"} <= set(schema["properties"])
    channel = schema["$defs"]["ChannelConfig"]
    assert channel["oneOf"] == [{"required": ["urls"]}, {"required": ["url"]}]  # `url:` is accepted too


def test_readme_lists_every_environment_variable() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = {
        line.split("|")[1].strip().strip("`")
        for line in readme.splitlines()
        if line.startswith("| `MONITOR_")
    }
    assert {variable.name for variable in environment.VARIABLES} <= table


def test_check_config_command(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["--config", str(REPO_ROOT / "monitor.yaml"), "check-config"])
    assert good.exit_code == 0, good.output
    assert "OK" in good.output
    bad = write(tmp_path, "feeds:\n  - url: https://example.org/rss\n    nmae: typo\n")
    before = bad.read_bytes()
    result = runner.invoke(main, ["--config", str(bad), "check-config"])
    assert result.exit_code == 2
    assert f"{bad}:3: feeds[0].nmae: unknown field" in result.output
    assert bad.read_bytes() == before


def test_check_config_rejects_a_bad_apprise_url_without_showing_secrets(tmp_path: Path) -> None:
    bad = write(tmp_path, "channels:\n  - name: team\n    url: 'notaschema://user:hunter2@example.org/x'\n")
    result = CliRunner().invoke(main, ["--config", str(bad), "check-config"])
    assert result.exit_code == 2
    assert "team" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize(
    "text", ["feeds: [{[a]: 1}]\n", "feeds: &a [*a]\n", "feeds: !!python/object:os.system x\n"]
)
def test_valid_yaml_that_is_no_config_is_a_config_error(tmp_path: Path, text: str) -> None:
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'monitor.yaml'}:")
    assert "not" in problem


def test_empty_environment_variable_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NM_EMPTY_TOKEN", "")
    (problem,) = problems_of(tmp_path, "channels:\n  - name: s\n    url: slack://${NM_EMPTY_TOKEN}\n")
    assert "environment variable NM_EMPTY_TOKEN is not set" in problem


def test_delivery_time_limit_must_leave_room_for_one_send(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, "alerts:\n  send_timeout: 30s\nworkers:\n  deliver_time_limit: 20s\n")
    assert "not enough for one send" in problem
    ok = load_config_text(
        "alerts:\n  send_timeout: 5s\nworkers:\n  deliver_time_limit: 7s\n  poll_time_limit: 7s\n"
    )
    assert ok.workers.work_budget(7) > 5  # the fault tests' tight limits still send
