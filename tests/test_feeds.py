from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from scraper.errors import SourceError
from scraper.feeds import Entry, Sitemap, newer_than, parse_feed, parse_since, parse_sitemap

BASE = "https://example.com/blog/feed.xml"


def urls(entries: list[Entry]) -> list[str]:
    return [entry.url for entry in entries]


# --- feeds -------------------------------------------------------------------------

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>Example</title>
    <link>https://example.com/</link>
    <item><title>Relative</title><link>/posts/one</link><pubDate>Tue, 05 Mar 2024 10:20:30 +0100</pubDate></item>
    <item><title>Absolute</title><link>https://other.example.org/two</link>
      <pubDate>Wed, 06 Mar 2024 00:00:00 GMT</pubDate></item>
    <item><title>Sibling</title><link>three.html</link></item>
  </channel>
</rss>"""


def test_rss2_links_resolved_in_order_with_utc_dates() -> None:
    entries = parse_feed(RSS2, BASE)
    assert entries == [
        Entry("https://example.com/posts/one", datetime(2024, 3, 5, 9, 20, 30, tzinfo=UTC)),
        Entry("https://other.example.org/two", datetime(2024, 3, 6, tzinfo=UTC)),
        Entry("https://example.com/blog/three.html", None),
    ]
    assert entries[0].updated is not None and entries[0].updated.utcoffset() == timedelta(0)


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example</title>
  <updated>2024-03-07T00:00:00Z</updated>
  <entry>
    <title>Alternate after self</title>
    <link rel="self" href="https://example.com/api/entries/1"/>
    <link rel="alternate" type="text/html" href="/articles/1"/>
    <updated>2024-03-05T10:20:30+01:00</updated>
  </entry>
  <entry>
    <title>No rel means alternate</title>
    <link href="https://example.com/articles/2"/>
    <published>2024-03-01T08:00:00Z</published>
    <updated>2024-03-04T08:00:00Z</updated>
  </entry>
  <entry>
    <title>Two languages: the first alternate is the page</title>
    <link rel="alternate" hreflang="en" type="text/html" href="/en/3"/>
    <link rel="alternate" hreflang="fr" type="text/html" href="/fr/3"/>
  </entry>
  <entry>
    <title>Only an enclosure</title>
    <link rel="enclosure" href="https://example.com/audio.mp3"/>
  </entry>
</feed>"""


def test_atom_prefers_alternate_link_and_published_over_updated() -> None:
    assert parse_feed(ATOM, BASE) == [
        Entry("https://example.com/articles/1", datetime(2024, 3, 5, 9, 20, 30, tzinfo=UTC)),
        Entry("https://example.com/articles/2", datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
        Entry("https://example.com/en/3", None),
    ]


RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://example.com/">
    <title>Example</title><link>https://example.com/</link><description>d</description>
    <items><rdf:Seq><rdf:li rdf:resource="https://example.com/r/1"/><rdf:li rdf:resource="https://example.com/r/2"/>
    </rdf:Seq></items>
  </channel>
  <item rdf:about="https://example.com/r/1">
    <title>One</title><link>https://example.com/r/1</link><dc:date>2024-03-05T10:20:30Z</dc:date>
  </item>
  <item rdf:about="https://example.com/r/2"><title>Two</title><link>https://example.com/r/2</link></item>
</rdf:RDF>"""


def test_rss1_rdf() -> None:
    assert parse_feed(RDF, BASE) == [
        Entry("https://example.com/r/1", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        Entry("https://example.com/r/2", None),
    ]


def test_empty_valid_feed_gives_no_entries() -> None:
    empty = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Nothing yet</title></channel></rss>'
    assert parse_feed(empty, BASE) == []


def test_duplicate_links_kept_once_first_wins() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title>
      <item><link>https://example.com/a</link><pubDate>Tue, 05 Mar 2024 00:00:00 GMT</pubDate></item>
      <item><link>/b</link></item>
      <item><link>/a</link><pubDate>Fri, 08 Mar 2024 00:00:00 GMT</pubDate></item>
    </channel></rss>"""
    assert parse_feed(feed, BASE) == [
        Entry("https://example.com/a", datetime(2024, 3, 5, tzinfo=UTC)),
        Entry("https://example.com/b", None),
    ]


def test_entries_without_web_link_skipped() -> None:
    feed = b"""<rss version="2.0"><channel><title>t</title>
      <item><link>mailto:editor@example.com</link></item>
      <item><link>ftp://example.com/file</link></item>
      <item><title>no link at all</title></item>
      <item><link>javascript:alert(1)</link></item>
      <item><link>http://example.com/kept</link></item>
    </channel></rss>"""
    assert urls(parse_feed(feed, BASE)) == ["http://example.com/kept"]


def test_html_page_is_not_a_feed() -> None:
    html = b"""<!DOCTYPE html><html><head><title>Blog</title></head>
      <body><h1>Posts</h1><a href="/posts/one">One</a></body></html>"""
    with pytest.raises(SourceError, match=r"^not an RSS or Atom feed: .*HTML") as caught:
        parse_feed(html, BASE)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [b"\x00\x01\x02garbage\xff\xfe\x80", b"just some words", b"", b"{}"])
def test_garbage_is_not_a_feed(content: bytes) -> None:
    with pytest.raises(SourceError, match=r"^not an RSS or Atom feed: ") as caught:
        parse_feed(content, BASE)
    assert "\n" not in str(caught.value)


def test_sitemap_is_not_a_feed() -> None:
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        parse_feed(URLSET, BASE)


def test_feed_content_that_is_a_file_path_is_not_opened(tmp_path: Path) -> None:
    # feedparser treats bytes as a file name first; the content must never be read from disk.
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS2)
    with pytest.raises(SourceError):
        parse_feed(str(path).encode(), BASE)


def test_feed_external_entity_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FEED")
    feed = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "' + secret.as_uri().encode() + b'">]>'
        b'<rss version="2.0"><channel><title>t</title><item><link>https://example.com/&xxe;</link></item>'
        b"</channel></rss>"
    )
    assert all("TOP-SECRET" not in entry.url for entry in parse_feed(feed, BASE))


# --- sitemaps ----------------------------------------------------------------------

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <!-- a comment -->
  <url><loc>https://example.com/day</loc><lastmod>2024-03-05</lastmod></url>
  <url><loc>https://example.com/minutes</loc><lastmod>2024-03-05T10:20Z</lastmod></url>
  <url><loc>https://example.com/offset</loc><lastmod>2024-03-05T10:20:30+01:00</lastmod></url>
  <url><loc>https://example.com/fraction</loc><lastmod>2024-03-05T10:20:30.123Z</lastmod></url>
  <url><loc>https://example.com/naive</loc><lastmod>2024-03-05T10:20:30</lastmod></url>
  <url><loc>https://example.com/month</loc><lastmod>2024-03</lastmod></url>
  <url><loc>https://example.com/bad-date</loc><lastmod>last tuesday</lastmod></url>
  <url>
    <loc>
      https://example.com/padded
    </loc>
    <image:image><image:loc>https://cdn.example.com/picture.jpg</image:loc></image:image>
  </url>
  <url><loc>/relative/page</loc></url>
  <url><loc>mailto:someone@example.com</loc></url>
  <url><lastmod>2024-03-05</lastmod></url>
  <url><loc>https://example.com/day</loc><lastmod>2025-01-01</lastmod></url>
</urlset>"""


def test_urlset_with_namespace_and_lastmod_variants() -> None:
    sitemap = parse_sitemap(URLSET, "https://example.com/sitemap.xml")
    assert sitemap == Sitemap(
        "urlset",
        [
            Entry("https://example.com/day", datetime(2024, 3, 5, tzinfo=UTC)),
            Entry("https://example.com/minutes", datetime(2024, 3, 5, 10, 20, tzinfo=UTC)),
            Entry("https://example.com/offset", datetime(2024, 3, 5, 9, 20, 30, tzinfo=UTC)),
            Entry("https://example.com/fraction", datetime(2024, 3, 5, 10, 20, 30, 123000, tzinfo=UTC)),
            Entry("https://example.com/naive", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
            Entry("https://example.com/month", datetime(2024, 3, 1, tzinfo=UTC)),
            Entry("https://example.com/bad-date", None),
            Entry("https://example.com/padded", None),
            Entry("https://example.com/relative/page", None),
        ],
    )
    assert all(entry.updated is None or entry.updated.tzinfo == UTC for entry in sitemap.entries)


def test_urlset_without_namespace() -> None:
    plain = b"<urlset><url><loc>http://example.com/x</loc><lastmod>2024-01-02</lastmod></url></urlset>"
    expected = Sitemap("urlset", [Entry("http://example.com/x", datetime(2024, 1, 2, tzinfo=UTC))])
    assert parse_sitemap(plain, BASE) == expected


def test_sitemap_index() -> None:
    index = b"""<?xml version="1.0" encoding="UTF-8"?>
    <sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sm:sitemap><sm:loc>https://example.com/sitemap-posts.xml.gz</sm:loc>
        <sm:lastmod>2024-03-05T10:20:30+00:00</sm:lastmod></sm:sitemap>
      <sm:sitemap><sm:loc>sitemap-pages.xml</sm:loc></sm:sitemap>
    </sm:sitemapindex>"""
    assert parse_sitemap(index, "https://example.com/sitemap_index.xml") == Sitemap(
        "sitemapindex",
        [
            Entry("https://example.com/sitemap-posts.xml.gz", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
            Entry("https://example.com/sitemap-pages.xml", None),
        ],
    )


def test_gzipped_sitemap() -> None:
    assert parse_sitemap(gzip.compress(URLSET), BASE) == parse_sitemap(URLSET, BASE)


def test_gzipped_text_sitemap() -> None:
    sitemap = parse_sitemap(gzip.compress(b"https://example.com/a\nhttps://example.com/b\n"), BASE)
    assert urls(sitemap.entries) == ["https://example.com/a", "https://example.com/b"]


def test_corrupt_gzip_is_source_error() -> None:
    with pytest.raises(SourceError, match="gzip"):
        parse_sitemap(b"\x1f\x8b\x08\x00garbage-not-deflate", BASE)
    with pytest.raises(SourceError, match="truncated gzip"):
        parse_sitemap(gzip.compress(URLSET)[:-40], BASE)


def gzip_of_zeros(total: int) -> bytes:
    # Streamed so the test never holds the expanded bytes itself.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(total // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bomb_stops_at_cap_quickly_and_in_bounded_memory() -> None:
    bomb = gzip_of_zeros(200 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match=r"^sitemap over 50 MiB uncompressed$"):
            parse_sitemap(bomb, BASE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 70 * 1024 * 1024
    assert time.monotonic() - started < 10


def test_plain_text_sitemap() -> None:
    text = b"\xef\xbb\xbfhttps://example.com/one\r\n\n   http://example.com/two  \nhttps://example.com/one\n"
    assert parse_sitemap(text, BASE) == Sitemap(
        "urlset", [Entry("https://example.com/one", None), Entry("http://example.com/two", None)]
    )


@pytest.mark.parametrize(
    "content",
    [
        b"https://example.com/one\nnot a url\n",
        b"https://example.com/one\n/relative\n",
        b"https://example.com/one\nftp://example.com/two\n",
        b"",
        b"  \n\n",
        b"\xff\xfe\xfa not utf-8",
    ],
)
def test_text_that_is_not_a_url_list_is_not_a_sitemap(content: bytes) -> None:
    with pytest.raises(SourceError, match=r"^not a sitemap: "):
        parse_sitemap(content, BASE)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<html><body><p>Hello</p></body></html>", "root element is <html>"),
        (b"<!DOCTYPE html><html><head><title>x</title></head><body><br></body></html>", "not well-formed"),
        (b"<urlset><url><loc>https://example.com/</loc></url>", "not well-formed"),
        (RSS2, "root element is <rss>"),
    ],
)
def test_other_xml_is_not_a_sitemap(content: bytes, reason: str) -> None:
    with pytest.raises(SourceError, match=r"^not a sitemap: ") as caught:
        parse_sitemap(content, BASE)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_sitemap_external_entity_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-SITEMAP")
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "' + secret.as_uri().encode() + b'">]>\n'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://example.com/&xxe;</loc></url>"
        b"<url><loc>https://example.com/safe</loc><lastmod>&xxe;</lastmod></url>"
        b"</urlset>"
    )
    # The loc built from the entity is unknown, so dropped; the file is never read into a URL.
    assert parse_sitemap(xxe, BASE) == Sitemap("urlset", [Entry("https://example.com/safe", None)])


def test_sitemap_external_parameter_entity_not_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "evil.dtd"
    secret.write_text('<!ENTITY leak "TOP-SECRET-DTD">')
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY % ext SYSTEM "' + secret.as_uri().encode() + b'"> %ext;]>'
        b"<urlset><url><loc>https://example.com/ok</loc></url></urlset>"
    )
    try:
        sitemap = parse_sitemap(xxe, BASE)
    except SourceError:
        return
    assert urls(sitemap.entries) == ["https://example.com/ok"]


def billion_laughs(levels: int) -> bytes:
    declarations = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10) for level in range(1, levels + 1)
    )
    bomb = b"<url><loc>https://example.com/&lol%d;</loc></url>" % levels
    after = b"<url><loc>https://example.com/after</loc></url>"
    return b'<?xml version="1.0"?><!DOCTYPE urlset [' + declarations + b"]><urlset>" + bomb + after + b"</urlset>"


@pytest.mark.parametrize("levels", [3, 9])
def test_billion_laughs_not_expanded(levels: int) -> None:
    # libxml2 may refuse the declarations outright (SourceError) or leave them unexpanded;
    # either way nothing is expanded and it takes no time.
    started = time.monotonic()
    try:
        sitemap = parse_sitemap(billion_laughs(levels), BASE)
    except SourceError as error:
        assert str(error).startswith("not a sitemap: ")
    else:
        assert urls(sitemap.entries) == ["https://example.com/after"]
    assert time.monotonic() - started < 2


# --- dates -------------------------------------------------------------------------

MARCH_5 = datetime(2024, 3, 5, tzinfo=UTC)


def test_newer_than_keeps_recent_and_undated_in_order() -> None:
    entries = [
        Entry("https://example.com/old", MARCH_5 - timedelta(seconds=1)),
        Entry("https://example.com/undated", None),
        Entry("https://example.com/exact", MARCH_5),
        Entry("https://example.com/new", MARCH_5 + timedelta(days=3)),
    ]
    kept = newer_than(iter(entries), MARCH_5)
    assert urls(list(kept)) == ["https://example.com/undated", "https://example.com/exact", "https://example.com/new"]


def test_newer_than_compares_instants_across_offsets() -> None:
    entry = Entry("https://example.com/a", datetime(2024, 3, 5, 10, 0, tzinfo=UTC))
    plus_two = timezone(timedelta(hours=2))
    assert list(newer_than([entry], datetime(2024, 3, 5, 11, 59, tzinfo=plus_two))) == [entry]
    assert list(newer_than([entry], datetime(2024, 3, 5, 12, 1, tzinfo=plus_two))) == []
    # A naive since is UTC.
    assert list(newer_than([entry], datetime(2024, 3, 5, 10, 1))) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", MARCH_5),
        ("  2024-03-05 ", MARCH_5),
        ("2024-03-05T10:20:30", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-05T10:20:30Z", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-05T10:20:30+01:00", datetime(2024, 3, 5, 9, 20, 30, tzinfo=UTC)),
        ("2024-03-05T10:20:30.500-05:00", datetime(2024, 3, 5, 15, 20, 30, 500000, tzinfo=UTC)),
    ],
)
def test_parse_since_absolute(value: str, expected: datetime) -> None:
    parsed = parse_since(value)
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("value", "ago"),
    [("7d", timedelta(days=7)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)), ("0d", timedelta(0))],
)
def test_parse_since_relative(value: str, ago: timedelta) -> None:
    parsed = parse_since(value)
    assert parsed.tzinfo == UTC
    assert abs(datetime.now(UTC) - ago - parsed) < timedelta(seconds=5)


@pytest.mark.parametrize(
    "value", ["", "yesterday", "7", "7w", "-7d", "7 days", "d7", "2024-13-01", "2024-03-05T25:00", "99999999999d"]
)
def test_parse_since_rejects_other_values(value: str) -> None:
    with pytest.raises(ValueError, match="7d, 12h or 30m") as caught:
        parse_since(value)
    assert "\n" not in str(caught.value)
