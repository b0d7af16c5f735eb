"""Configuration: one YAML file, validated at load.

``schema`` says what the file may hold (pydantic models, printed as JSON
Schema by ``monitor config schema``); ``loader`` reads it, replaces
``${ENV_VAR}`` from the environment and names the file, line and field of
every problem (``monitor.yaml:14: feeds[2].url: ...``); ``environment`` is
the one place where the service reads environment variables.
"""

from monitor.config import environment
from monitor.config.alerting import (
    ChannelAlerting,
    DigestSchedule,
    StorySettings,
    TemplateConfig,
    TopicAlerting,
)
from monitor.config.fields import Duration, parse_duration
from monitor.config.loader import (
    DEFAULT_CONFIG_FILE,
    ConfigError,
    load_config,
    load_config_text,
    resolve_config_path,
)
from monitor.config.schema import (
    DEFAULT_DATABASE_URL,
    TARGET_SEPARATOR,
    AlertSettings,
    ChannelConfig,
    FeedConfig,
    FetchSettings,
    KeywordRules,
    LearningSettings,
    ReferenceProblems,
    Settings,
    TopicConfig,
    WebSettings,
    WorkerSettings,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "TARGET_SEPARATOR",
    "AlertSettings",
    "ChannelAlerting",
    "ChannelConfig",
    "ConfigError",
    "DigestSchedule",
    "Duration",
    "FeedConfig",
    "FetchSettings",
    "KeywordRules",
    "LearningSettings",
    "ReferenceProblems",
    "Settings",
    "StorySettings",
    "TemplateConfig",
    "TopicAlerting",
    "TopicConfig",
    "WebSettings",
    "WorkerSettings",
    "environment",
    "load_config",
    "load_config_text",
    "parse_duration",
    "resolve_config_path",
]
