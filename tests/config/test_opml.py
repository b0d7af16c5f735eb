"""OPML in and out through `monitor feeds import/export`, with the OPML that
Feedly, Miniflux, FreshRSS and Inoreader export (their documented formats,
written here): feeds added to the config with their categories, its
comments and order kept, URLs already present skipped, and the export read
back to the same feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.config.opml import OpmlError, read_opml, write_opml

OPML = Path(__file__).parent / "opml"

EXPECTED = {
    "feedly": [
        ("https://variety.com/feed/", "Variety", "Hollywood"),
        ("https://deadline.com/feed/", "Deadline", "Hollywood"),
        ("https://www.theverge.com/rss/index.xml", "The Verge - All Posts", "Tech"),
        ("https://feeds.arstechnica.com/arstechnica/index", "Ars Technica", "Tech"),
    ],
    "miniflux": [
        ("https://www.lemonde.fr/pixels/rss_full.xml", "Le Monde - Pixels", "All"),
        ("https://www.numerama.com/feed/", "Numerama", "All"),
        ("https://www.allocine.fr/rss/news.xml", "AlloCiné", "Cinéma & séries"),
    ],
    "freshrss": [
        (
            "https://feeds.bbci.co.uk/news/entertainment_and_arts/rss.xml",
            "BBC News - Entertainment & Arts",
            "Uncategorized",
        ),
        ("https://www.lefigaro.fr/rss/figaro_culture.xml", "Le Figaro - Culture", "Culture FR"),
        ("https://www.francetvinfo.fr/culture.rss", "franceinfo - Culture", "Culture FR"),
    ],
    "inoreader": [
        ("https://www.theguardian.com/technology/artificialintelligenceai/rss", "The Guardian - AI", "AI"),
        ("https://www.wired.com/feed/rss", "Wired", "AI"),
        ("https://www.indiewire.com/feed/", "IndieWire", None),
        ("https://variety.com/feed/", "Variety", None),
    ],
}

CONFIG = """\
# The desk's monitor.
database_url: sqlite:///var/monitor.sqlite3   # the embedded default

# French and English entertainment news.
feeds:
  - {name: Variety, url: "https://variety.com/feed/", language: en}  # kept first

# Topics come after the feeds.
topics: []
"""


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "feeds", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("reader", sorted(EXPECTED))
def test_import_then_export_round_trip(reader: str, tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    code, out, err = run(config, "import", str(OPML / f"{reader}.opml"), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    expected = EXPECTED[reader]
    new = [row for row in expected if row[0] != "https://variety.com/feed/"]
    assert [(a["url"], a["name"], a["category"]) for a in report["added"]] == new
    already = [s["reason"] for s in report["skipped"] if "already in the config" in s["reason"]]
    assert len(already) == len(expected) - len(new)

    text = config.read_text(encoding="utf-8")
    # Comments, order and the existing entry are as they were.
    for kept in (
        "# The desk's monitor.",
        "# the embedded default",
        "# French and English entertainment news.",
        '  - {name: Variety, url: "https://variety.com/feed/", language: en}  # kept first',
        "# Topics come after the feeds.",
    ):
        assert kept in text
    assert text.index("feeds:") < text.index("topics:")
    settings = load_config(config)
    configured = [(f.url, f.name, f.category) for f in settings.feeds]
    assert configured[0] == ("https://variety.com/feed/", "Variety", None)
    assert configured[1:] == new

    # Export, read back: the same feeds, names and categories.
    exported = tmp_path / "out.opml"
    code, _, err = run(config, "export", "-o", str(exported))
    assert code == 0, err
    again = read_opml(exported.read_bytes(), str(exported))
    categories = list(dict.fromkeys(category for _, _, category in configured if category))
    grouped = [row for category in categories for row in configured if row[2] == category]
    assert [(f.url, f.name, f.category) for f in again.feeds] == grouped + [r for r in configured if not r[2]]

    # A second import adds nothing and leaves the file alone.
    before = config.read_text(encoding="utf-8")
    code, out, _ = run(config, "import", str(OPML / f"{reader}.opml"))
    assert code == 0
    assert not [line for line in out.splitlines() if line.startswith("added")]
    assert config.read_text(encoding="utf-8") == before


def test_import_reports_added_and_skipped_for_people(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("feeds: []\n", encoding="utf-8")
    code, out, err = run(config, "import", str(OPML / "freshrss.opml"))
    assert code == 0, err
    assert "added    Le Figaro - Culture [Culture FR]  https://www.lefigaro.fr/rss/figaro_culture.xml" in out
    assert (
        f"skipped  {OPML / 'freshrss.opml'}:14: 'mailto:desk@example.org' is not an http(s) feed URL" in out
    )
    assert "3 added, 1 skipped" in err
    # ``feeds: []`` became a block list a person can read and edit.
    assert "feeds:\n  - " in config.read_text(encoding="utf-8")


def test_export_writes_stdout_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEED_PW", "hunter2")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "feeds:\n"
        "  - {url: 'https://desk:${FEED_PW}@private.example/rss', name: Private, category: Desk, language: fr,\n"
        "     basic_auth: {username: u, password: '${FEED_PW}'}, headers: {X-Key: '${FEED_PW}'}}\n",
        encoding="utf-8",
    )
    code, out, _ = run(config, "export")
    assert code == 0
    assert "hunter2" not in out
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert (
        '<outline type="rss" text="Private" title="Private" xmlUrl="https://private.example/rss" '
        'category="/Desk" language="fr"/>'
    ) in out


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "x">]><opml/>', "x.opml:1: refused: DTD/ENTITY"),
        (b"<opml><body><outline text='a'>\n</body></opml>", "x.opml:2: not well-formed XML: mismatched tag"),
        (b"<rss><channel/></rss>", "x.opml:1: not OPML: the document starts with <rss>"),
        (b"", "x.opml:1: not well-formed XML: no element found"),
    ],
)
def test_broken_opml_is_a_clear_error(document: bytes, message: str) -> None:
    with pytest.raises(OpmlError) as caught:
        read_opml(document, "x.opml")
    assert message in str(caught.value)


def test_a_broken_opml_file_leaves_the_config_alone(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    broken = tmp_path / "broken.opml"
    broken.write_bytes(b"<opml><body><outline xmlUrl='https://a.example/'>")
    code, _, err = run(config, "import", str(broken))
    assert code == 2
    assert f"error: {broken}:1: not well-formed XML" in err
    assert config.read_text(encoding="utf-8") == CONFIG


def test_write_opml_groups_by_category_in_config_order() -> None:
    from monitor.config import load_config_text

    settings = load_config_text(
        "feeds:\n"
        "  - {url: 'https://a.example/', name: A, category: News}\n"
        "  - {url: 'https://b.example/', name: B}\n"
        "  - {url: 'https://c.example/', name: 'C & <D>', category: News}\n"
    )
    text = write_opml(settings.feeds)
    document = read_opml(text.encode(), "out.opml")
    assert [(f.name, f.category) for f in document.feeds] == [("A", "News"), ("C & <D>", "News"), ("B", None)]


def test_import_into_block_style_feeds_keeps_the_comments_in_place(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "feeds:\n  - name: A\n    url: https://a.example/\n    # about A\n\n# Topics next.\ntopics: []\n",
        encoding="utf-8",
    )
    code, _, err = run(config, "import", str(OPML / "miniflux.opml"))
    assert code == 0, err
    text = config.read_text(encoding="utf-8")
    assert text.startswith(
        "feeds:\n  - name: A\n    url: https://a.example/\n    # about A\n  - name: Le Monde"
    )
    assert text.endswith("    category: Cinéma & séries\n\n# Topics next.\ntopics: []\n")
