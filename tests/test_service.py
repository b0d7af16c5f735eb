"""The embedded service: `run --once` finishes delivery, config changes are
picked up between cycles."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import func, select

from monitor.runtime import Runtime
from monitor.service import EmbeddedService
from monitor.storage import Delivery, Feed
from monitor.storage.migrate import upgrade
from tests.support.feed_server import FeedServer
from tests.support.feedgen import Item, rss
from tests.support.webhook_receiver import WebhookReceiver


def write_config(path: Path, server: FeedServer, hook: WebhookReceiver, db: Path, paths: list[str]) -> None:
    feeds = "\n".join(f"  - url: '{server.url(p)}'" for p in paths)
    path.write_text(
        f"database_url: 'sqlite:///{db}'\nfetch:\n  allow_hosts: ['{server.netloc}']\n"
        # every-article: these tests count alerts per article (near-identical
        # items would otherwise be one story).
        f"channels:\n  - name: hook\n    url: '{hook.apprise_url('/a')}'\n    stories: every-article\n"
        f"topics:\n  - id: strikes\n    name: Strikes\n    model: rules\n    rules: {{any: [strike]}}\n    channels: [hook]\n"
        f"feeds:\n{feeds}\n",
        encoding="utf-8",
    )
    stamp = time.time() + 1  # a change the mtime check sees
    os.utime(path, (stamp, stamp))


def test_run_once_sends_every_alert_even_past_one_batch(tmp_path: Path) -> None:
    with FeedServer() as server, WebhookReceiver() as hook:
        server.add_file("/a.xml", rss([Item(f"g{i}", f"Strike day {i}") for i in range(130)]))
        config, db = tmp_path / "monitor.yaml", tmp_path / "m.sqlite3"
        write_config(config, server, hook, db, ["/a.xml"])
        upgrade(f"sqlite:///{db}")
        runtime = Runtime(config)
        report = EmbeddedService(runtime).run_once()
        assert report.new_articles == 130 and len(report.classified.matches) == 130
        assert report.sent == 130  # more than the sender's batch of 100
        assert len(hook.delivered) == 130
        with runtime.session_factory() as session:
            assert (
                session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state != "sent"))
                == 0
            )
        runtime.close()


def test_a_feed_added_to_the_config_is_polled_without_a_restart(tmp_path: Path) -> None:
    with FeedServer() as server, WebhookReceiver() as hook:
        server.add_file("/a.xml", rss([Item("a1", "Strike in A")]))
        server.add_file("/b.xml", rss([Item("b1", "Strike in B")]))
        config, db = tmp_path / "monitor.yaml", tmp_path / "m.sqlite3"
        write_config(config, server, hook, db, ["/a.xml"])
        upgrade(f"sqlite:///{db}")
        runtime = Runtime(config)
        service = EmbeddedService(runtime)
        assert service.cycle().new_articles == 1
        write_config(config, server, hook, db, ["/a.xml", "/b.xml"])
        second = service.cycle()
        assert [p.name for p in second.polls] == [server.url("/b.xml")]
        assert second.new_articles == 1
        # A broken file is rejected; the service keeps running on the last good config.
        config.write_text("feeds: [{url: 'ftp://x'}]\n", encoding="utf-8")
        os.utime(config, (time.time() + 2, time.time() + 2))
        service.cycle()
        assert runtime.last_config_error is not None
        with runtime.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(Feed).where(Feed.status == "active")) == 2
        assert len(hook.delivered) == 2
        runtime.close()
