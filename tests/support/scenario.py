"""The end-to-end scenario shared by the embedded and the Celery tests.

Two feeds (one English, one French) on a local feed server; two keyword-rule
topics; a webhook channel (Apprise ``json://`` to a local receiver) and an
email channel (a local aiosmtpd server). The expected matches are written
out here, so both modes are held to the same result.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss
from tests.support.smtp_server import SmtpServer
from tests.support.webhook_receiver import WebhookReceiver

EN_ITEMS = [
    Item(
        "en-1",
        "SAG-AFTRA strike: actors walk out after talks with studios collapse",
        "The union ordered a strike after negotiations with the AMPTP failed.",
        "https://news.example/en/strike?utm_source=rss",
    ),
    Item(
        "en-2",
        "Box office: superhero sequel tops the weekend",
        "A big opening weekend for the studio.",
        "https://news.example/en/box-office",
    ),
    Item(
        "en-3",
        "Studios want to scan background actors and reuse their digital replicas",
        "The proposal would let studios keep a digital double of extras forever.",
        "https://news.example/en/scans",
    ),
]
FR_ITEMS = [
    Item(
        "fr-1",
        "Grève à Hollywood : les acteurs rejettent l'offre des studios",
        "Le syndicat SAG-AFTRA poursuit la grève après l'échec des négociations.",
        "https://news.example/fr/greve",
    ),
    Item(
        "fr-2",
        "Météo : un week-end ensoleillé sur la Bretagne",
        "Les températures remontent.",
        "https://news.example/fr/meteo",
    ),
]
NEW_EN_ITEM = Item(
    "en-4",
    "Video game performers vote to strike over AI protections",
    "SAG-AFTRA members back a strike against game publishers.",
    "https://news.example/en/games-strike",
)

# (item guid, topic) pairs the rules must produce: no more, no less.
EXPECTED = {
    ("en-1", "strikes"),
    ("fr-1", "strikes"),
    ("en-3", "replicas"),
}
EXPECTED_AFTER_NEW_ITEM = EXPECTED | {("en-4", "strikes")}


def serve_feeds(server: FeedServer) -> tuple[str, str]:
    server.add_file("/en.xml", rss(EN_ITEMS, title="English news", language="en"))
    server.add_file("/fr.xml", rss(FR_ITEMS, title="Nouvelles", language="fr"))
    return server.url("/en.xml"), server.url("/fr.xml")


def add_new_item(server: FeedServer) -> None:
    server.set_content("/en.xml", rss([NEW_EN_ITEM, *EN_ITEMS], title="English news", language="en"))


def write_config(
    path: Path,
    *,
    database_url: str,
    server: FeedServer,
    hook: WebhookReceiver,
    smtp: SmtpServer,
    broker_url: str | None = None,
    extra: str = "",
    stories: str = "every-article",
) -> Path:
    """The scenario's config. ``stories`` is the channels' alert policy:
    ``every-article`` (one alert per match and channel, what these
    scenarios count) or ``per-story``."""
    en, fr = server.url("/en.xml"), server.url("/fr.xml")
    broker = f"broker_url: '{broker_url}'\n" if broker_url else ""
    path.write_text(
        f"""database_url: '{database_url}'
{broker}poll_interval: 60s
fetch:
  timeout: 5s
  allow_hosts: ['{server.netloc}']
alerts:
  backoff_base: 1s
feeds:
  - {{url: '{en}', name: English news, language: en}}
  - {{url: '{fr}', name: Nouvelles, language: fr}}
channels:
  - name: hook
    url: '{hook.apprise_url("/alerts")}'
    stories: {stories}
  - name: mail
    url: '{smtp.apprise_url(to="desk@example.org")}'
    stories: {stories}
topics:
  - id: strikes
    name: Strike negotiations
    model: rules
    rules:
      any: [strike, grève, greve]
      exclude: [box office]
    channels: [hook, mail]
  - id: replicas
    name: Digital doubles
    model: rules
    rules:
      any: [digital replica, digital replicas, digital double, scan, réplique numérique]
    channels: [hook]
{extra}""",
        encoding="utf-8",
    )
    return path
