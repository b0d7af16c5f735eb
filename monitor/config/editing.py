"""Changing the config file in place, as a person would: new feeds appended
to ``feeds:``, every comment, key order and quoting of the file kept
(ruamel.yaml's round trip).

The new file is validated before it replaces the old one (written beside it,
then renamed): an import that would break the config changes nothing.
Problems the file already had (an unset ``${ENV}`` on this machine) are not
blamed on the import.
"""

from __future__ import annotations

import copy
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config.loader import ConfigError, load_config_text
from monitor.config.opml import OpmlDocument, OpmlFeed
from monitor.config.schema import FeedConfig

_LINE = re.compile(r"^[^:]*:\d+: ")


class EditError(Exception):
    """The config cannot be changed; the file is left as it was."""


@dataclass
class ImportReport:
    added: list[OpmlFeed] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (OPML line, why)


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order and styles kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # ``  - item``, as the shipped config
    return yaml


def _problems(text: str, path: str) -> set[str]:
    """The file's problems without their line numbers (lines move when feeds are added)."""
    try:
        load_config_text(text, path)
    except ConfigError as exc:
        return {_LINE.sub("", problem) for problem in exc.problems}
    return set()


def import_feeds(config_path: Path, document: OpmlDocument) -> ImportReport:
    """Append the OPML's feeds that the config lacks; what was added and skipped."""
    report = ImportReport(skipped=list(document.skipped))
    try:
        original = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"{config_path}: cannot read: {exc}") from None
    yaml = _yaml()
    try:
        data = yaml.load(original) if original.strip() else CommentedMap()
    except Exception as exc:  # ruamel's errors share no useful base class
        raise EditError(f"{config_path}: not valid YAML: {exc}") from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EditError(f"{config_path}:1: the file must be a mapping of settings")
    feeds = data.get("feeds")
    if feeds is None:
        feeds = CommentedSeq()
        data["feeds"] = feeds
    if not isinstance(feeds, CommentedSeq):
        raise EditError(f"{config_path}: feeds: must be a list")
    present = {str(entry.get("url", "")).strip() for entry in feeds if isinstance(entry, dict)}
    flow = _entries_flow_style(feeds)
    for feed in document.feeds:
        if feed.url in present:
            report.skipped.append((feed.line, f"{feed.url} is already in the config"))
            continue
        entry = CommentedMap()
        if feed.name:
            entry["name"] = feed.name
        entry["url"] = feed.url
        if feed.language:
            entry["language"] = feed.language
        if feed.category:
            entry["category"] = feed.category
        try:
            FeedConfig.model_validate(dict(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            report.skipped.append(
                (feed.line, f"{feed.url}: {'.'.join(map(str, first['loc']))}: {first['msg']}")
            )
            continue
        if flow:
            entry.fa.set_flow_style()
        _append_keeping_trailing_comments(feeds, entry)
        present.add(feed.url)
        report.added.append(feed)
    if not report.added:
        return report
    if len(feeds) == len(report.added):
        feeds.fa.set_block_style()  # ``feeds: []`` becomes a list a person can read
    out = io.StringIO()
    yaml.dump(data, out)
    _replace(config_path, original, out.getvalue())
    return report


def _trailing_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after a node's last line: the comments
    that follow a list (a blank line, ``# Topics``) hang on its last item."""
    if isinstance(node, CommentedSeq) and len(node):
        last: Any = len(node) - 1
        slot = 0
    elif isinstance(node, CommentedMap) and len(node):
        last = list(node)[-1]
        slot = 2
    else:
        return None
    tokens = node.ca.items.get(last)
    if tokens and len(tokens) > slot and tokens[slot] is not None:
        return tokens, slot
    return _trailing_slot(node[last])


def _append_keeping_trailing_comments(feeds: CommentedSeq, entry: CommentedMap) -> None:
    """Append ``entry`` to the list; what followed the old last item (its
    own line's comment and the indented comments under it aside: they
    belong to it) follows the new one."""
    found = _trailing_slot(feeds)
    feeds.append(entry)
    if found is None:
        return
    tokens, slot = found
    token = tokens[slot]
    lines = str(token.value).split("\n")
    keep = 1
    while keep < len(lines) and lines[keep][:1].isspace() and lines[keep].strip().startswith("#"):
        keep += 1
    rest = "\n".join(lines[keep:])
    if not rest.strip():
        return
    moved = copy.copy(token)
    token.value = "\n".join(lines[:keep]) + "\n"
    moved.value = "\n" + rest
    if entry.fa.flow_style():
        feeds.ca.items[len(feeds) - 1] = [moved, None, None, None]
    else:
        entry.ca.items[list(entry)[-1]] = [None, None, moved, None]


def _entries_flow_style(feeds: CommentedSeq) -> bool:
    """Follow the file: ``- {name: X, url: Y}`` if its feeds are written so."""
    for entry in feeds:
        if isinstance(entry, CommentedMap):
            return bool(entry.fa.flow_style())
    return True


def _replace(config_path: Path, original: str, text: str) -> None:
    new_problems = _problems(text, str(config_path)) - _problems(original, str(config_path))
    if new_problems:
        raise EditError(
            f"{config_path}: not changed, the import would make it invalid: "
            + "; ".join(sorted(new_problems))
        )
    directory = config_path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{config_path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, config_path.stat().st_mode & 0o7777)
        os.replace(temporary, config_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
