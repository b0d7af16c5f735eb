"""Loading the config file: YAML with the line of every node, ``${ENV}``
interpolation, and every validation error mapped to ``file:line: field:
message``.

A person fixes a config by going to a line, so every problem names one: a
field's own line, a missing field's parent, a problem across sections (a
topic sending to an undefined channel) the line of the reference itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.config import environment
from monitor.config.schema import ReferenceProblems, Settings

DEFAULT_CONFIG_FILE = "monitor.yaml"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Location = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` are ``file:line: field: message``."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Located:
    """YAML data with the line of every node, keyed by its path."""

    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, loc: Location) -> int | None:
        """The line of the deepest located prefix of ``loc``: a missing field
        points at its parent mapping, an extra one at its own key."""
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.lines:
                return self.lines[loc[:cut]]
        return None


def _compose(text: str, path: str) -> _Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{path}:{line}: not valid YAML: {problem}"]) from None
    located = _Located(data=None)
    if node is None:
        located.data = {}
        return located
    try:
        located.data = _build(node, (), located.lines)
    except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:
        # Valid YAML that is no config: a list as a key, a self-referencing
        # alias, a tag SafeLoader refuses.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(path, [f"{path}:{line}: not a usable config: {problem}"]) from None
    return located


def _build(node: yaml.Node, at: Location, lines: dict[Location, int]) -> Any:
    lines.setdefault(at, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # plain scalar keys
            lines[(*at, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*at, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*at, index), lines) for index, child in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node)


def _field_path(loc: Location) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _interpolate(value: Any, at: Location, located: _Located, path: str, problems: list[str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            found = environment.secret(name)
            if found is None:
                line = located.line_of(at)
                problems.append(f"{path}:{line}: {_field_path(at)}: environment variable {name} is not set")
                return ""
            return found

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [_interpolate(v, (*at, i), located, path, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _interpolate(v, (*at, k), located, path, problems) for k, v in value.items()}
    return value


def _problems(exc: ValidationError, located: _Located, path: str) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        loc: Location = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ReferenceProblems):
            # Problems across fields, each at the place it names.
            for inner, message in cause.problems:
                where = (*loc, *inner)
                problems.append(f"{path}:{located.line_of(where)}: {_field_path(where)}: {message}")
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (check its spelling)"
        problems.append(f"{path}:{located.line_of(loc)}: {_field_path(loc)}: {message}")
    return problems


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$MONITOR_CONFIG``, else ``./monitor.yaml``."""
    return Path(explicit or environment.CONFIG.value() or DEFAULT_CONFIG_FILE)


def load_config_text(text: str, path: str = "<config>") -> Settings:
    located = _compose(text, path)
    if not isinstance(located.data, dict):
        raise ConfigError(path, [f"{path}:1: the file must be a mapping of settings"])
    problems: list[str] = []
    data = _interpolate(located.data, (), located, path, problems)
    # The environment overrides the file for the two server URLs, as a
    # container deployment expects (see docker-compose.yml).
    for key, variable in (("database_url", environment.DATABASE_URL), ("broker_url", environment.BROKER_URL)):
        override = variable.value()
        if override is not None:
            data[key] = override
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, problems + _problems(exc, located, path)) from None
    if problems:
        raise ConfigError(path, problems)
    settings._config_path = None if path.startswith("<") else Path(path)
    return settings


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    config_path = resolve_config_path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(config_path), [f"{config_path}: no such config file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(config_path), [f"{config_path}: cannot read: {exc}"]) from None
    return load_config_text(text, str(config_path))
