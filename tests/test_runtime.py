"""A running process picks up a good config change without a restart and
keeps its last good config when the file is broken (issue: safe config changes)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from monitor.runtime import Runtime

BASE = """database_url: 'sqlite:///{db}'
feeds:
  - url: https://example.org/a.xml
topics:
  - id: strikes
    name: Strikes
    model: rules
    rules: {{any: [strike]}}
"""


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # Make the change visible even within the file system's time resolution.
    stamp = time.time() + 1
    os.utime(path, (stamp, stamp))


def test_good_change_is_picked_up_and_broken_one_is_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "monitor.yaml"
    write(config, BASE.format(db=tmp_path / "m.sqlite3"))
    runtime = Runtime(config)
    assert [f.url for f in runtime.settings.feeds] == ["https://example.org/a.xml"]
    first_matcher = runtime.matcher
    assert runtime.reload() is False  # unchanged file: nothing to do

    write(
        config,
        BASE.format(db=tmp_path / "m.sqlite3")
        + "  - id: replicas\n    name: R\n    model: rules\n    rules: {any: [replica]}\n",
    )
    assert runtime.reload() is True
    assert [t.id for t in runtime.settings.topics] == ["strikes", "replicas"]
    assert runtime.matcher is not first_matcher  # topics changed: rebuilt

    good = runtime.settings
    with caplog.at_level(logging.ERROR, logger="monitor.runtime"):
        write(config, "feeds:\n  - url: ftp://nope\n")
        assert runtime.reload() is False
    assert runtime.settings is good  # the last good config stays in force
    assert runtime.last_config_error and "feeds[0].url" in runtime.last_config_error
    assert "rejected, keeping the last good config" in caplog.text
    caplog.clear()
    assert runtime.reload() is False  # the same broken file is not re-logged
    assert caplog.text == ""

    write(config, BASE.format(db=tmp_path / "m.sqlite3").replace("a.xml", "b.xml"))
    assert runtime.reload() is True
    assert runtime.last_config_error is None
    assert [f.url for f in runtime.settings.feeds] == ["https://example.org/b.xml"]
    runtime.close()


def test_first_load_must_succeed(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    write(config, "nonsense: true\n")
    from monitor.config import ConfigError

    with pytest.raises(ConfigError):
        Runtime(config)
