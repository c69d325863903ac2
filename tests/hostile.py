"""A real HTTP/1.1 server on loopback that misbehaves on purpose, to prove the fetcher is polite and hardened.

Bind several instances on different loopback addresses (127.0.0.1, 127.0.0.2, ...: on Linux all of 127.0.0.0/8
is local) to test per-host politeness; every instance keeps its own access log of `Hit`s, from which spacing
(`start_gaps`) and concurrency (`max_concurrency`: how many [started, finished) intervals overlap) follow.

    with HostileServer("127.0.0.2") as server:
        url = server.url("/page/alpha")
        ...
        assert max_concurrency(server.hits("/page/")) <= 1

Endpoints (exact paths; `latency` is waited before anything is sent, on every endpoint):

    /page/<name>               an HTML article (page_html(name)), ETag + Last-Modified, answers 304 to
                               If-None-Match / If-Modified-Since
    /slow/<seconds>/<name>     waits, then serves /page/<name>
    /hang-headers              reads the request and never answers (until stop())
    /hang-body                 200 headers with Content-Length: 100000, then nothing
    /trickle                   200 text/html, Connection: close, no length, then one byte a second forever
    /drop                      closes the connection without a byte
    /reset                     half a status line, then a TCP reset (SO_LINGER 0)
    /broken-chunked            chunked: one valid chunk, then the chunk-size line "zz", then close
    /status/<code>             that status (200..599), small HTML body
    /retry-after/<status>/<count>/<value>/<name>
                               the first <count> requests to this exact path get <status> with Retry-After: <value>,
                               then /page/<name>. <value> is seconds ("2") or "date+<s>": an HTTP-date <s> seconds
                               ahead, rounded up to the next whole second (so the real wait is between s and s+1)
    /flaky/<status>/<count>/<name>
                               the same without Retry-After
    /redirect/<n>/<name>       302 to /redirect/<n-1>/<name> (relative Location); /redirect/0/<name> is the page
    /loop/a, /loop/b           302 to each other, forever
    /redirect-to?url=<url>     302 (or ?status=301/303/307/308) to that absolute URL
    /bomb/<gzip|deflate|br|zstd>
                               text/html, Content-Encoding (deflate is zlib-wrapped), Content-Length of the
                               compressed size; decompresses to BOMB_SIZE = 1 GiB of zeros. Compressed sizes and
                               cold build times (once per process, module-level cache) on the 2-core test box:
                               gzip 1,061,908 B ~0.3 s; deflate 1,061,896 B ~0.02 s; br 809 B ~1.0 s;
                               zstd 32,790 B ~0.3 s (its frame header declares the 1 GiB content size).
                               Call bomb(encoding) beforehand to keep the build out of a timed test.
    /huge                      200 text/html, chunked, HUGE_SIZE = 50 MiB of <p>filler</p>
    /huge-declared             the same bytes with Content-Length: 52428800
    /binary                    application/octet-stream, 100,000 deterministic random bytes
    /binary-as-html            Content-Type: text/html, but a PNG signature + random bytes (with NULs)
    /pdf                       a small valid application/pdf
    /charset/<case>            CHARSET_CASES[case]: (body, Content-Type, a sentence a correct decoder produces);
                               CHARSET_CODECS[case] is the codec that really decodes the body
    /robots.txt                404 unless set_robots(text)
    /feed.xml, /atom.xml       RSS 2.0 (/page/feed-1..3, pubDates 2024-01-01, -02-01, -03-01) and Atom
                               (/page/atom-1..2), absolute URLs on this server's base
    /sitemap.xml               urlset of /page/sm-1..3 with lastmods
    /sitemap-index.xml         sitemapindex -> /sitemap.xml and /sitemap-2.xml.gz
    /sitemap-2.xml.gz          a gzipped urlset (/page/sm-4..5) served as application/gzip, no Content-Encoding
    anything else              404 HTML

set_page(path, ...) answers an exact path (tried with its query, then without) before any endpoint above.
Its etag / last_modified are sent only when given (None: no validator, so no 304 either); a bare etag is
quoted for you. A page's own latency replaces the server's latency for that page.

Every response is framed correctly for keep-alive (Content-Length, chunked, or Connection: close). HEAD is
answered with the GET headers and no body. stop() wakes every waiting handler (a threading.Event), shuts down
every open connection, closes the listening socket and joins the threads, within about a second.

Beyond the brief: in_flight() (requests read but not finished; they reach the log only when they finish),
reset_counters() (the /retry-after and /flaky counts), errors (unexpected handler exceptions; should stay
empty), and the module helpers max_concurrency(hits), start_gaps(hits), bomb(encoding), page_html(name),
page_title(name), page_etag(body).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import html
import itertools
import random
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

BOMB_SIZE = 1 << 30  # every bomb decompresses to this many zero bytes
HUGE_SIZE = 50 << 20  # /huge and /huge-declared
HANG_BODY_LENGTH = 100_000  # what /hang-body declares
PAGE_LAST_MODIFIED = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)  # Last-Modified of every /page/<name>
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    host: str  # the address this server listens on
    path: str  # request target: path with query
    method: str
    started: float  # time.monotonic() when the request line was read
    finished: float  # time.monotonic() when the handler returned (or the connection was dropped)
    status: int | None  # None if no status line was sent
    headers: dict[str, str]  # request headers, lower-cased names


def max_concurrency(hits: Iterable[Hit]) -> int:
    """The largest number of requests whose [started, finished) intervals overlap."""
    events = sorted([(hit.started, 1) for hit in hits] + [(hit.finished, -1) for hit in hits])
    best = current = 0
    for _, delta in events:  # at equal times an end (-1) sorts before a start (+1): half-open intervals
        current += delta
        best = max(best, current)
    return best


def start_gaps(hits: Iterable[Hit]) -> list[float]:
    """Seconds between consecutive request starts, in order."""
    starts = sorted(hit.started for hit in hits)
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


# ---------------------------------------------------------------------------------------------------------------
# Article pages

_OPENERS = [
    "The {name} project began as a small idea discussed over coffee in a crowded office near the station.",
    "Residents first heard about {name} at a town meeting held late last autumn in the old school hall.",
    "According to the people who know it best, {name} has changed a great deal over the past year.",
    "Nobody expected {name} to attract so much attention when it was first announced in the spring.",
    "Those who followed the story of {name} closely say the details matter more than the headlines.",
    "Early reports about {name} were short, but the full picture took several months to emerge.",
]
_SENTENCES = [
    "Local volunteers spent several weekends repairing the old building by the river.",
    "The council agreed to review the budget again before the end of the spring.",
    "Many families said they would gladly return next year if the weather allowed it.",
    "A spokesperson explained that the schedule had been adjusted to reduce the delays.",
    "Shop owners on the main street reported a modest but steady rise in visitors.",
    "The library extended its opening hours so that students could study in the evenings.",
    "Engineers inspected the bridge twice and found no serious structural problems at all.",
    "Several teachers organised workshops to explain the changes to younger readers.",
    "The regional newspaper published a series of interviews with long-time residents.",
    "Farmers in the valley welcomed the rain after a long and unusually dry summer.",
    "Critics argued that the plan moved too quickly and ignored the smaller neighbourhoods.",
    "Supporters replied that waiting any longer would only have raised the final cost.",
    "A new bus route now connects the railway station with the hospital and the market.",
    "The museum plans to display photographs from the early years of the town this winter.",
    "Volunteers counted more than two hundred birds during the annual winter survey.",
    "Officials promised to publish a detailed report once the figures had been confirmed.",
    "The bakery on the corner started opening an hour earlier to meet the new demand.",
    "Parents praised the new playground but asked for more benches in the shade.",
]


def page_title(name: str) -> str:
    """The <title> and <h1> of /page/<name>: "feed-1" -> "Feed 1"."""
    return name.replace("-", " ").replace("_", " ").strip().title() or "Untitled"


@lru_cache(maxsize=256)
def page_html(name: str) -> bytes:
    """The body of /page/<name>: deterministic, 6 paragraphs of ~65 words, each mentioning name."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    title = html.escape(page_title(name))
    paragraphs = []
    for index in range(6):
        opener = _OPENERS[(seed + index) % len(_OPENERS)].format(name=html.escape(name))
        paragraphs.append(f"<p>{' '.join([opener, *rng.sample(_SENTENCES, 4)])}</p>")
    body = "\n".join(paragraphs)
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>\n{body}\n"
            f"</article></body></html>\n").encode()


def page_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class _Page:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: datetime | None
    latency: float | None


# ---------------------------------------------------------------------------------------------------------------
# Bombs: built once per process, streaming, never holding the decompressed size in memory

_BOMBS: dict[str, bytes] = {}
_BOMB_LOCK = threading.Lock()
_CHUNK = 1 << 20
BOMB_ENCODINGS = {"gzip": "gzip", "deflate": "deflate", "br": "br", "zstd": "zstd"}  # path -> Content-Encoding


def _raw_deflate_zeros() -> bytes:
    # A full flush resets the compressor, so every 1 MiB block of zeros compresses to the same bytes:
    # compress one block and repeat it (1 GiB in ~20 ms instead of ~5 s at level 9).
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(_CHUNK)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (BOMB_SIZE // _CHUNK) + compressor.flush(zlib.Z_FINISH)


def _build_bomb(encoding: str) -> bytes:
    zeros = bytes(_CHUNK)
    if encoding == "gzip":
        crc = 0
        for _ in range(BOMB_SIZE // _CHUNK):
            crc = zlib.crc32(zeros, crc)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, max compression, unknown OS
        return header + _raw_deflate_zeros() + struct.pack("<II", crc, BOMB_SIZE & 0xFFFFFFFF)
    if encoding == "deflate":  # zlib-wrapped, as HTTP's "deflate" means
        adler = ((BOMB_SIZE % 65521) << 16) | 1  # adler32 of n zero bytes: a = 1, b = n mod 65521
        return b"\x78\xda" + _raw_deflate_zeros() + struct.pack(">I", adler)
    if encoding == "br":
        compressor = brotli.Compressor(quality=5, lgwin=24)
        parts = [compressor.process(zeros) for _ in range(BOMB_SIZE // _CHUNK)]
        return b"".join([*parts, compressor.finish()])
    if encoding == "zstd":
        zcompressor = zstandard.ZstdCompressor(level=3).compressobj(size=BOMB_SIZE)
        parts = [zcompressor.compress(zeros) for _ in range(BOMB_SIZE // _CHUNK)]
        return b"".join([*parts, zcompressor.flush()])
    raise ValueError(f"unknown bomb encoding {encoding!r}")


def bomb(encoding: str) -> bytes:
    """The compressed body of /bomb/<encoding> (gzip, deflate, br, zstd); built on first use, then cached."""
    with _BOMB_LOCK:
        if encoding not in _BOMBS:
            _BOMBS[encoding] = _build_bomb(encoding)
        return _BOMBS[encoding]


# ---------------------------------------------------------------------------------------------------------------
# Charset traps: case -> (body bytes, Content-Type header, a sentence a correct decoder must produce)


def _article(title: str, paragraphs: list[str], meta: str = "", lang: str = "en") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head>{meta}<title>{title}</title></head>\n<body><article>'
            f"<h1>{title}</h1>\n{body}\n</article></body></html>\n")


_CP1252_SENTENCE = ("“We charged €6.90 for years and nobody complained,” says co-owner Maria Okafor,"
                    " “but we’d rather nobody went hungry.”")
_CP1252_TEXT = _article("Harbour café’s “pay what you can” menu turns one", [
    "A year ago, the owners of the Quayside Café on Mill Street put up a hand-written sign that read “Pay what you"
    " can — no questions asked.” Most of their neighbours assumed the experiment would last a month at most.",
    "It didn’t end. The café now serves around 140 lunches a day, and the average payment has settled at €7.40 per"
    f" plate, slightly more than the old fixed menu used to charge. {_CP1252_SENTENCE}",
    "Regulars have their own rituals. Some leave a €20 note on Fridays to cover a stranger’s meal; others pay in"
    " kind, fixing the café’s wobbly chairs or bringing crates of apples from their allotments in the autumn.",
    "The owners admit the first winter was hard. Heating bills doubled, and for two weeks in February the till came"
    " up short every single day. “We nearly gave up,” Okafor says. “Then the school next door held a bake sale.”",
])
_LATIN1_SENTENCE = ("Les architectes ont conservé la charpente métallique d'origine, construite en 1898, tout en"
                    " ajoutant de grandes verrières qui laissent entrer la lumière naturelle.")
_LATIN1_TEXT = _article("Le marché couvert de Saint-Étienne rouvre après trois ans de travaux", [
    "Après trois années de travaux, le marché couvert de la place Jean-Jaurès a enfin rouvert ses portes samedi"
    " matin. Dès sept heures, une foule de curieux attendait devant l'entrée principale, sous une pluie fine qui"
    " n'a découragé personne.",
    "La rénovation a coûté près de douze millions d'euros, financés en grande partie par la ville et la région. "
    + _LATIN1_SENTENCE,
    "« Nous avons voulu garder l'âme du lieu », explique la maire adjointe chargée du commerce. Les quarante-deux"
    " étals accueillent désormais des maraîchers, des fromagers, des bouchers et même un torréfacteur de café"
    " installé près de la fontaine.",
    "Les commerçants, relogés pendant les travaux dans des chapiteaux provisoires, se disent soulagés. Une"
    " fromagère installée au marché depuis vingt-cinq ans confie qu'elle a retrouvé ses clients fidèles dès la"
    " première heure, et que beaucoup sont venus simplement pour dire bonjour.",
], lang="fr")
_SJIS_SENTENCE = "蔵書はおよそ三千冊で、その多くは町民からの寄付によるものだという。"
_SJIS_TEXT = _article("無人駅の駅舎が町の図書館に生まれ変わる", [
    "長野県の山あいにある小さな町で、利用者が減って無人になった鉄道の駅舎が、町立図書館の分館として新しく生まれ変わった。"
    "駅の待合室だった場所には木の本棚が並び、子どもから高齢者まで、列車を待つ人も待たない人も、自由に本を手に取ることができる。",
    "計画を進めたのは町の職員と地元の高校生たちである。高校生は放課後に集まり、古い時刻表や駅の写真を整理して、"
    "駅の歴史を紹介する小さな展示を作った。町の担当者は「駅は昔から人が集まる場所だった。もう一度、人が立ち寄る理由を作りたかった」と話している。",
    "開館の日には、朝一番の列車が到着する前から近所の住民が集まり、入り口に長い列ができた。" + _SJIS_SENTENCE
    + "地元の農家が書いた料理の本や、昭和の頃の町の様子を記録した写真集も置かれている。",
    "鉄道会社によると、駅の一日の乗客数はここ十年で半分以下に減った。しかし図書館が開いてからは、週末に駅を訪れる人が少しずつ増えている。"
    "町は今後、駅前の空き店舗を使って小さな喫茶店を開くことも検討しており、駅を中心にした町づくりを続けていく考えだ。",
], lang="ja")
_SJIS_META_SENTENCE = "祭りの実行委員会によると、今年の来場者は二日間で約二万人にのぼり、町の人口のおよそ五倍にあたる。"
_SJIS_META_TEXT = _article("港町の冬祭り、三年ぶりに花火が戻る", [
    "北海道の小さな港町で、毎年二月に開かれる冬祭りが今年も行われ、三年ぶりに夜の花火大会が復活した。"
    "雪に覆われた港の上に色とりどりの花火が打ち上げられると、集まった見物客から大きな歓声が上がった。",
    _SJIS_META_SENTENCE + "会場には地元の漁師が営む屋台が並び、とれたての魚介を使った汁物や焼き物が振る舞われた。"
    "寒さの中でも、温かい料理を求める人の列は夜遅くまで途切れなかった。",
    "花火の費用は、町内の企業や個人からの寄付でまかなわれた。実行委員長は「町の外に出た若い人たちが、この日のために帰ってきてくれる。"
    "それが何よりうれしい」と語った。来年は港の倉庫を使った写真展も計画されている。",
], meta='<meta charset="shift_jis">', lang="ja")
_GB_SENTENCE = "一位在这里卖了二十多年豆腐的摊主说，过去下雨天地面积水，顾客很少，现在环境干净明亮，生意明显好了很多。"
_GB_TEXT = _article("老城区的菜市场完成改造，重新对居民开放", [
    "经过一年多的改造，位于老城区中心的菜市场日前重新对居民开放。改造后的市场保留了原来的砖墙和木制屋顶，"
    "同时更换了排水系统和照明设备，摊位也从原来的八十个增加到一百二十个。",
    "市场管理处的负责人介绍说，改造方案在设计阶段就征求了摊主和周边居民的意见。许多老顾客希望市场不要变得太像超市，"
    "因此新的布局依然保留了狭窄的通道和热闹的叫卖声。",
    "开业当天早上六点，市场门口已经排起了长队。" + _GB_SENTENCE
    + "附近小学的老师还带着学生来参观，让孩子们认识各种蔬菜和鱼类。",
    "据了解，市政府计划在未来三年内对城区内另外五个老市场进行类似的改造，并在市场内增设公共厕所和休息区。"
    "有关部门表示，改造的目标不是拆旧建新，而是让老市场在保留生活气息的同时变得更加安全和方便。",
], lang="zh")
_BOM_SENTENCE = ("At Bäckerei Müller on the Löwenstrasse, the first loaves come out of the oven at half past four —"
                 " long before the trams start running through Zürich’s old town.")
_BOM_TEXT = _article("A night shift at Zürich’s oldest bakery", [
    _BOM_SENTENCE + " The bakery has stood on the same corner since 1871, and the family still uses the original"
    " brick oven for the Sunday Zopf.",
    "Anna Müller, who took over from her father eleven years ago, starts the dough for the rye bread the evening"
    " before. “The dough decides when we go home,” she says, “not the clock.”",
    "Customers queue in the dark, many on their way to the Hauptbahnhof. The most popular item is still the"
    " Gipfeli, a buttery crescent that costs CHF 1.80 — a price that has risen only twice in twenty years.",
])

CHARSET_CASES: dict[str, tuple[bytes, str, str]] = {
    "cp1252-declared-utf8": (_CP1252_TEXT.encode("cp1252"), "text/html; charset=utf-8", _CP1252_SENTENCE),
    "latin1-undeclared": (_LATIN1_TEXT.encode("iso-8859-1"), "text/html", _LATIN1_SENTENCE),
    "shift-jis-undeclared": (_SJIS_TEXT.encode("shift_jis"), "text/html", _SJIS_SENTENCE),
    "shift-jis-meta": (_SJIS_META_TEXT.encode("shift_jis"), "text/html", _SJIS_META_SENTENCE),
    "gb18030-wrong-header": (_GB_TEXT.encode("gb18030"), "text/html; charset=iso-8859-1", _GB_SENTENCE),
    "utf8-bom": (b"\xef\xbb\xbf" + _BOM_TEXT.encode("utf-8"), "text/html; charset=windows-1252", _BOM_SENTENCE),
}
CHARSET_CODECS: dict[str, str] = {  # the Python codec that really decodes each body
    "cp1252-declared-utf8": "cp1252",
    "latin1-undeclared": "iso-8859-1",
    "shift-jis-undeclared": "shift_jis",
    "shift-jis-meta": "shift_jis",
    "gb18030-wrong-header": "gb18030",
    "utf8-bom": "utf-8-sig",
}


# ---------------------------------------------------------------------------------------------------------------
# Other fixed bodies


@lru_cache(maxsize=1)
def binary_body() -> bytes:
    return random.Random(20240101).randbytes(100_000)


@lru_cache(maxsize=1)
def binary_as_html_body() -> bytes:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    noise = bytearray(random.Random(20240202).randbytes(20_000))
    noise[::97] = bytes(len(noise[::97]))  # plenty of NULs, whatever the random bytes
    return png + bytes(noise)


@lru_cache(maxsize=1)
def pdf_body() -> bytes:
    stream = b"BT /F1 18 Tf 72 720 Td (A small PDF document from the hostile server.) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _huge_block() -> bytes:
    return (b"<p>filler</p>\n" * (65536 // 14 + 1))[:65536]


_HUGE_PREFIX = b"<!DOCTYPE html>\n<html><head><title>Huge</title></head><body>\n"


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _feed_xml(base: str) -> bytes:
    items = "".join(
        f"<item><title>Feed item {n}</title><link>{base}/page/feed-{n}</link>"
        f'<guid isPermaLink="true">{base}/page/feed-{n}</guid>'
        f"<pubDate>{_http_date(datetime(2024, n, 1, tzinfo=UTC))}</pubDate>"
        f"<description>Item {n} of the hostile test feed.</description></item>\n"
        for n in (1, 2, 3))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>\n<title>Hostile test feed</title>'
            f"<link>{base}/</link><description>Three articles on the hostile test server.</description>\n"
            f"{items}</channel></rss>\n").encode()


def _atom_xml(base: str) -> bytes:
    entries = "".join(
        f'<entry><title>Atom entry {n}</title><link rel="alternate" href="{base}/page/atom-{n}"/>'
        f"<id>{base}/page/atom-{n}</id><updated>2024-0{n}-15T00:00:00Z</updated>"
        f"<summary>Entry {n} of the hostile test Atom feed.</summary></entry>\n"
        for n in (1, 2))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
            f'<title>Hostile test Atom feed</title><id>{base}/atom.xml</id><link rel="self" href="{base}/atom.xml"/>'
            f"<updated>2024-02-15T00:00:00Z</updated><author><name>Hostile</name></author>\n"
            f"{entries}</feed>\n").encode()


def _urlset(base: str, numbers: Iterable[int]) -> bytes:
    urls = "".join(f"<url><loc>{base}/page/sm-{n}</loc><lastmod>2024-{n:02d}-01</lastmod></url>\n" for n in numbers)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n').encode()


def _sitemap_index(base: str) -> bytes:
    maps = "".join(f"<sitemap><loc>{base}{path}</loc><lastmod>2024-03-01</lastmod></sitemap>\n"
                   for path in ("/sitemap.xml", "/sitemap-2.xml.gz"))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{maps}</sitemapindex>\n').encode()


def _small_html(title: str) -> bytes:
    escaped = html.escape(title)
    return f"<html><head><title>{escaped}</title></head><body><h1>{escaped}</h1></body></html>\n".encode()


# ---------------------------------------------------------------------------------------------------------------
# The server


class HostileServer:
    """One misbehaving HTTP/1.1 server bound to host:port (port 0: a free one); see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency: float = 0.0
        self.log: list[Hit] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pages: dict[str, _Page] = {}
        self._robots: str | None = None
        self._counters: dict[str, int] = {}
        self._threads: set[threading.Thread] = set()
        self._conns: set[socket.socket] = set()
        self._resets: set[socket.socket] = set()  # connections to close with a reset instead of a FIN
        self.errors: list[Exception] = []  # unexpected handler exceptions (a bug here, not a client hanging up)
        self._in_flight = 0
        self._answering = 0  # requests whose response is (being) sent but that are not logged yet
        self._logged = threading.Condition(self._lock)
        self._serve_thread: threading.Thread | None = None
        self._stopped = False
        self._httpd = _HTTPServer((host, port), self)
        self.host: str = str(self._httpd.server_address[0])
        self.port: int = int(self._httpd.server_address[1])
        self.base: str = f"http://[{self.host}]:{self.port}" if ":" in self.host else f"http://{self.host}:{self.port}"

    # lifecycle

    def start(self) -> HostileServer:
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped HostileServer cannot be restarted")
            if self._serve_thread is None:
                self._serve_thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                                      name=f"hostile {self.base}", daemon=True)
                self._serve_thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stopping.set()  # wakes every handler waiting on latency, hangs, trickles
        if self._serve_thread is not None:
            self._httpd.shutdown()
            self._serve_thread.join()
        self._httpd.server_close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:  # wakes handlers blocked reading the next request or writing to a full socket
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # configuration

    def url(self, path: str) -> str:
        return self.base + path

    def set_page(self, path: str, html: str | bytes, *, etag: str | None = None,
                 last_modified: datetime | None = None, content_type: str = HTML,
                 latency: float | None = None) -> str:
        """Serve a fixed page at path (conditional GET on the validators given); returns its URL."""
        body = html.encode("utf-8") if isinstance(html, str) else html
        if etag is not None and not etag.startswith(('"', "W/")):
            etag = f'"{etag}"'
        with self._lock:
            self._pages[path] = _Page(body, content_type, etag, last_modified, latency)
        return self.url(path)

    def set_robots(self, text: str | None) -> None:
        """Serve text at /robots.txt; None makes it a 404 again."""
        with self._lock:
            self._robots = text

    # the access log

    def hits(self, path_prefix: str | None = None) -> list[Hit]:
        """A copy of the log, optionally only the requests whose path starts with path_prefix.

        A request is logged when its handler returns, a moment after the client may already hold the response;
        so this first waits (up to 2 s) for every answered request to be logged. Requests still hanging or
        trickling are not waited for.
        """
        with self._logged:
            self._logged.wait_for(lambda: self._answering == 0, timeout=2.0)
            return [hit for hit in self.log if path_prefix is None or hit.path.startswith(path_prefix)]

    def reset_log(self) -> None:
        with self._logged:
            self._logged.wait_for(lambda: self._answering == 0, timeout=2.0)
            self.log.clear()

    def reset_counters(self) -> None:
        """Start the /retry-after and /flaky counts over."""
        with self._lock:
            self._counters.clear()

    def in_flight(self) -> int:
        """Requests read but not yet finished (they enter the log when they finish)."""
        with self._lock:
            return self._in_flight

    # used by the handler

    def _page(self, target: str, path: str) -> _Page | None:
        with self._lock:
            return self._pages.get(target) or self._pages.get(path)

    def _robots_text(self) -> str | None:
        with self._lock:
            return self._robots

    def _count(self, path: str) -> int:
        """How many requests for path came before this one."""
        with self._lock:
            seen = self._counters.get(path, 0)
            self._counters[path] = seen + 1
            return seen

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1

    def _answer(self) -> None:
        with self._lock:
            self._answering += 1

    def _leave(self, hit: Hit, answered: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            self._answering -= answered
            self.log.append(hit)
            self._logged.notify_all()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of parallel connects must not overflow the backlog (1 s SYN retries)

    def __init__(self, address: tuple[str, int], owner: HostileServer) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(host): a reverse DNS lookup that can stall for 127.0.0.2
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._run, args=(request, client_address), daemon=True)
        with self.owner._lock:
            self.owner._threads.add(thread)
            self.owner._conns.add(request)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.owner._lock:
                self.owner._threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.owner._conns.discard(request)
            reset = request in self.owner._resets
            self.owner._resets.discard(request)
        if reset:
            self.close_request(request)  # no FIN first: SO_LINGER 0 turns the close into a reset
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (the point of most endpoints here) are normal


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server_version = "Hostile/1.0"
    sys_version = ""
    _started = 0.0
    _status: int | None = None
    _answered = False

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the server keeps its own log

    def parse_request(self) -> bool:
        self._started = time.monotonic()  # the request line has just been read
        self._status = None
        return super().parse_request()

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status = code
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # plumbing

    @property
    def owner(self) -> HostileServer:
        return self.server.owner

    def _dispatch(self) -> None:
        self._answered = False
        self.owner._enter()
        try:
            self._route()
        except OSError:  # broken pipe, reset, or the socket shut down by stop()
            self.close_connection = True
        except Exception as exc:
            with self.owner._lock:
                self.owner.errors.append(exc)
            self.close_connection = True
        finally:
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            self.owner._leave(Hit(self.owner.host, self.path, self.command, self._started, time.monotonic(),
                                  self._status, headers), self._answered)

    def _answer(self) -> None:
        """Call before the write that lets the client consider the response complete (see HostileServer.hits)."""
        if not self._answered:
            self._answered = True
            self.owner._answer()

    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early on stop(); True if the whole time passed."""
        return seconds <= 0 or not self.owner._stopping.wait(seconds)

    def _hang(self) -> None:
        self.owner._stopping.wait()
        self.close_connection = True

    def _head_only(self) -> bool:
        return self.command == "HEAD"

    def _send(self, status: int, body: bytes = b"", content_type: str | None = HTML,
              headers: dict[str, str] | None = None) -> None:
        self._answer()
        self.send_response(status)
        bodiless = status in (204, 304) or status < 200
        if content_type and not bodiless:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not bodiless and not self._head_only():
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(404, _small_html("404 Not Found"))

    def _redirect(self, location: str, status: int = 302) -> None:
        self._send(status, _small_html(f"Moved to {location}"), headers={"Location": location})

    def _serve_page(self, body: bytes, content_type: str, etag: str | None, last_modified: datetime | None) -> None:
        headers = {}
        if etag:
            headers["ETag"] = etag
        if last_modified:
            headers["Last-Modified"] = _http_date(last_modified)
        self._send(304 if self._not_modified(etag, last_modified) else 200, body, content_type, headers)

    def _not_modified(self, etag: str | None, last_modified: datetime | None) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # takes precedence over If-Modified-Since
            if etag is None:
                return False
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return "*" in tags or etag.removeprefix("W/") in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since is None or last_modified is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified.replace(microsecond=0) <= since

    def _named_page(self, name: str) -> None:
        body = page_html(name)
        self._serve_page(body, HTML, page_etag(body), PAGE_LAST_MODIFIED)

    # the endpoints

    def _route(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        page = self.owner._page(self.path, path)
        latency = page.latency if page is not None and page.latency is not None else self.owner.latency
        if not self._wait(latency):
            self.close_connection = True
            return
        if page is not None:
            self._serve_page(page.body, page.content_type, page.etag, page.last_modified)
            return
        try:
            self._endpoint(path, split.query)
        except ValueError:  # a number that is not one, in the path
            self._not_found()

    def _endpoint(self, path: str, query: str) -> None:
        base = self.owner.base
        match path.strip("/").split("/"):
            case ["page", name]:
                self._named_page(name)
            case ["slow", seconds, name]:
                if not self._wait(float(seconds)):
                    self.close_connection = True
                    return
                self._named_page(name)
            case ["hang-headers"]:
                self._hang()
            case ["hang-body"]:
                self.send_response(200)
                self.send_header("Content-Type", HTML)
                self.send_header("Content-Length", str(HANG_BODY_LENGTH))
                self.end_headers()
                self._hang()
            case ["trickle"]:
                self._trickle()
            case ["drop"]:
                self.close_connection = True
            case ["reset"]:
                self.wfile.write(b"HTTP/1.1 20")
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                with self.owner._lock:
                    self.owner._resets.add(self.connection)
                self.close_connection = True
            case ["broken-chunked"]:
                self.send_response(200)
                self.send_header("Content-Type", HTML)
                self.send_header("Transfer-Encoding", "chunked")
                self._answer()
                self.end_headers()
                if not self._head_only():
                    first = b"<html><body><p>This chunk is fine."
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first) + b"zz\r\nnot a chunk\r\n")
                self.close_connection = True
            case ["status", code] if 200 <= int(code) <= 599:
                self._send(int(code), _small_html(f"Status {code}"))
            case ["retry-after", status, count, value, name]:
                if self.owner._count(self.path) < int(count):
                    self._send(int(status), _small_html(f"Status {status}"),
                               headers={"Retry-After": _retry_after(value)})
                else:
                    self._named_page(name)
            case ["flaky", status, count, name]:
                if self.owner._count(self.path) < int(count):
                    self._send(int(status), _small_html(f"Status {status}"))
                else:
                    self._named_page(name)
            case ["redirect", n, name]:
                if int(n) <= 0:
                    self._named_page(name)
                else:
                    self._redirect(f"/redirect/{int(n) - 1}/{name}")
            case ["loop", "a"]:
                self._redirect("/loop/b")
            case ["loop", "b"]:
                self._redirect("/loop/a")
            case ["redirect-to"]:
                params = parse_qs(query)
                if "url" not in params:
                    self._send(400, _small_html("redirect-to needs ?url="))
                    return
                self._redirect(params["url"][0], int(params.get("status", ["302"])[0]))
            case ["bomb", encoding] if encoding in BOMB_ENCODINGS:
                self._send(200, bomb(encoding), "text/html", {"Content-Encoding": BOMB_ENCODINGS[encoding]})
            case ["huge"]:
                self._huge(chunked=True)
            case ["huge-declared"]:
                self._huge(chunked=False)
            case ["binary"]:
                self._send(200, binary_body(), "application/octet-stream")
            case ["binary-as-html"]:
                self._send(200, binary_as_html_body(), "text/html")
            case ["pdf"]:
                self._send(200, pdf_body(), "application/pdf")
            case ["charset", case] if case in CHARSET_CASES:
                body, content_type, _ = CHARSET_CASES[case]
                self._send(200, body, content_type)
            case ["robots.txt"]:
                robots = self.owner._robots_text()
                if robots is None:
                    self._not_found()
                else:
                    self._send(200, robots.encode("utf-8"), "text/plain; charset=utf-8")
            case ["feed.xml"]:
                self._send(200, _feed_xml(base), "application/rss+xml; charset=utf-8")
            case ["atom.xml"]:
                self._send(200, _atom_xml(base), "application/atom+xml; charset=utf-8")
            case ["sitemap.xml"]:
                self._send(200, _urlset(base, (1, 2, 3)), "application/xml; charset=utf-8")
            case ["sitemap-index.xml"]:
                self._send(200, _sitemap_index(base), "application/xml; charset=utf-8")
            case ["sitemap-2.xml.gz"]:
                self._send(200, gzip.compress(_urlset(base, (4, 5)), mtime=0), "application/gzip")
            case _:
                self._not_found()

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Connection", "close")
        self.close_connection = True
        if self._head_only():
            self._answer()
            self.end_headers()
            return
        self.end_headers()
        text = b"<html><body><p>" + b"slowly " * 1000
        index = 0
        while True:
            self.wfile.write(text[index % len(text):index % len(text) + 1])
            index += 1
            if not self._wait(1.0):
                return

    def _huge(self, *, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(HUGE_SIZE))
        if self._head_only():
            self._answer()
            self.end_headers()
            return
        self.end_headers()
        block = _huge_block()
        sent = 0
        while sent < HUGE_SIZE:
            if self.owner._stopping.is_set():
                self.close_connection = True
                return
            piece = _HUGE_PREFIX if sent == 0 else block[:HUGE_SIZE - sent]
            if sent + len(piece) >= HUGE_SIZE:
                self._answer()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


def _retry_after(value: str) -> str:
    """"2" stays "2"; "date+5" becomes an HTTP-date at least 5 s ahead (rounded up to a whole second)."""
    if value.startswith("date+"):
        target = datetime.now(UTC) + timedelta(seconds=float(value.removeprefix("date+")))
        if target.microsecond:
            target = target.replace(microsecond=0) + timedelta(seconds=1)
        return _http_date(target)
    return value  # anything else goes out as given, so a test can send a malformed Retry-After too
