"""Config loading: validation errors name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import ConfigError, load_config, load_config_text, parse_duration

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


def test_references_between_sections_are_checked(tmp_path: Path) -> None:
    text = "topics:\n  - id: t1\n    name: T\n    channels: [nowhere]\n"
    (problem,) = problems_of(tmp_path, text)
    assert "topic 't1' sends to channel 'nowhere', which is not defined" in problem


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
    assert ":2: workers: visibility_timeout (900s) must be at least twice" in problem or (
        "workers: visibility_timeout (900s) must be at least twice" in problem
    )


def test_default_visibility_timeout_is_at_least_twice_the_hard_limits() -> None:
    workers = load_config_text("{}").workers
    assert workers.visibility_timeout >= 2 * workers.longest_time_limit


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


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
