from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pytest
from lxml import etree
from selectolax.lexbor import LexborHTMLParser

from scraper import Article, NoContent, __version__, clean
from scraper.cleaner import CLEANER_ID, DEFAULT_MODEL, boilerplate
from scraper.cleaner.boilerplate import drop_boilerplate
from scraper.cleaner.model import BlockModel, load
from scraper.cleaner.page import PAGE_TYPES, PageInfo
from scraper.cleaner.prune import prune
from scraper.cleaner.render import render
from scraper.cleaner.words import lower_letters, lower_words
from scraper.models import has_words, word_count
from tests.conftest import CORPUS, SEEDS, seed_expectations
from tests.hashed import hash_markup
from tests.server import LocalServer

EXPECTED = seed_expectations()
CORPUS_EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def norm(text: str) -> str:
    return " ".join(text.split())


def seed_html(seed: str, hashed: bool) -> str:
    html = (SEEDS / seed.replace(".txt", ".html")).read_text(encoding="utf-8")
    return hash_markup(html) if hashed else html


SEED_CASES = [pytest.param(seed, hashed, id=f"{seed[:3]}{'-hashed' if hashed else ''}")
              for seed in sorted(EXPECTED) for hashed in (False, True)]


@pytest.mark.parametrize("seed, hashed", SEED_CASES)
def test_seed_keeps_every_body_paragraph_in_order(seed: str, hashed: bool) -> None:
    text = norm(clean(seed_html(seed, hashed)).text)
    position = 0
    for paragraph in EXPECTED[seed]["body"]:
        found = text.find(norm(paragraph), position)
        assert found >= 0, f"missing or out of order: {paragraph[:60]!r}"
        position = found + len(norm(paragraph))


@pytest.mark.parametrize("seed, hashed", SEED_CASES)
def test_seed_output_has_no_chrome_line(seed: str, hashed: bool) -> None:
    lines = {norm(line) for line in clean(seed_html(seed, hashed)).text.splitlines()}
    leaked = [line for line in EXPECTED[seed]["without"] if norm(line) in lines]
    assert leaked == []


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_real_pages_keep_body_and_drop_boilerplate(name: str) -> None:
    case = CORPUS_EXPECTED[name]
    text = norm(clean((CORPUS / name).read_bytes(), url=case["url"]).text)
    assert [s for s in case["with"] if norm(s) not in text] == []
    assert [s for s in case["without"] if norm(s) in text] == []


def test_metadata_of_a_wordpress_news_page() -> None:
    article = clean((SEEDS / "000_d467d9e684ffadb1.html").read_bytes())
    assert article.title == "Japan ‘gravely concerned’ by China and Russia’s military co-operation"
    assert article.authors == ("News Room",)
    assert article.published == "2023-07-27T23:39:24+00:00"
    assert article.modified == "2023-07-27T23:39:24+00:00"
    assert article.language == "en"
    assert article.site_name == "Indebta"
    assert article.canonical_url == (
        "https://indebta.com/news/japan-gravely-concerned-by-china-and-russias-military-co-operation/")
    assert article.image == "https://indebta.com/wp-content/uploads/2023/07/japan-defence-white-paper-1024x576.jpg"
    assert article.word_count > 400


@pytest.mark.parametrize(
    "seed, title, authors, published, site_name",
    [
        ("001_7b6a4f0f43ad198b", "Japan sounds alarm over Russian and Chinese military co-operation",
         ("Kana Inagaki",), "2022-07-22T04:00:13+00:00", "Financial Times"),
        ("002_60c7648376388afa", "Japan outlines concerns over increased China-Russia cooperation amid Ukraine war",
         ("South China Morning Post",), "2022-07-22T17:00:09+08:00", "South China Morning Post"),
        ("003_968b57e5d640ddbd", "Japan worried as China, Russia move to strengthen military coordination",
         ("Anadolu Agency",), "2021-11-24T13:19:00+03:00", "Anadolu Agency"),
        ("004_c93559280a8c89ed", "Japan and the United States Have Sent a Warning to China, Promising to Work "
         "Together More on Defence", ("admin",), "2022-01-08T06:12:41+00:00", "World Affairs Daily"),
    ],
)
def test_metadata_of_each_seed(seed: str, title: str, authors: tuple[str, ...], published: str,
                               site_name: str) -> None:
    article = clean((SEEDS / f"{seed}.html").read_bytes(), url="https://example.org/a")
    assert (article.title, article.authors, article.published, article.site_name, article.language) == (
        title, authors, published, site_name, "en")
    assert article.description and article.canonical_url and article.image


def test_markdown_keeps_headings_lists_quotes_and_links() -> None:
    html = """<html lang="en"><head><title>Notes</title></head><body><article>
      <h1>Notes on rivers</h1>
      <p>Rivers carry water to the sea, as <a href="https://example.org/sea">this page</a> explains
         at some length, with a great many words about the matter.</p>
      <h2>Why they flow</h2>
      <p>Gravity pulls the water downhill from the mountains to the plains and the sea beyond.</p>
      <blockquote><p>Panta rhei: everything flows, said the philosopher long ago.</p></blockquote>
      <p>Two of the longest rivers of Europe flow east from the Alps and the Black Forest:</p>
      <ul><li>The Rhine, a long river</li><li>The Danube, a longer river</li></ul>
      <p>Both carry barges, and both have carried them since the Romans built their forts.</p>
    </article></body></html>"""
    article = clean(html)
    assert "## Why they flow" in article.markdown
    assert "[this page](https://example.org/sea)" in article.markdown
    assert "- The Rhine, a long river" in article.markdown
    assert "> Panta rhei" in article.markdown
    assert "this page explains" in article.text and "](" not in article.text
    assert "The Danube, a longer river" in article.text.split("\n\n")


def test_text_is_paragraphs_separated_by_blank_lines() -> None:
    article = clean((SEEDS / "003_968b57e5d640ddbd.html").read_bytes())
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) >= len(EXPECTED["003_968b57e5d640ddbd.txt"]["body"])
    assert all(p.strip() == p and "\n" not in p for p in paragraphs)


def test_clean_is_a_pure_function_of_its_input() -> None:
    html = (SEEDS / "001_7b6a4f0f43ad198b.html").read_text(encoding="utf-8")
    assert clean(html) == clean(html.encode("utf-8")) == clean(html)


def test_each_article_names_the_cleaner_that_made_it() -> None:
    html = (SEEDS / "001_7b6a4f0f43ad198b.html").read_text(encoding="utf-8")
    assert clean(html).cleaner == CLEANER_ID
    assert clean(html, model=load(DEFAULT_MODEL)).cleaner == CLEANER_ID  # the model as loaded names its file
    assert clean(html, model=str(DEFAULT_MODEL)).cleaner == CLEANER_ID  # or its file, as a path or a string
    assert clean(html, model=None).cleaner == f"scraper {__version__} rules"
    assert CLEANER_ID.startswith(f"scraper {__version__} blocks-")


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html><body></body></html>",
        "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></body></html>",
        "<html><body><p>Too short to be an article.</p></body></html>",
        "\x00\x01binary\xff",
    ],
)
def test_a_page_without_an_article_raises_no_content(html: str) -> None:
    with pytest.raises(NoContent):
        clean(html)


def test_legacy_encoding_declared_in_meta_is_decoded() -> None:
    body = "<p>" + " ".join(["Die Straße führt über den Fluß, schön und grün."] * 8) + "</p>"
    head = '<head><meta charset="windows-1252"><title>Straße</title></head>'
    html = f"<html>{head}<body><article>{body}</article></body></html>"
    article = clean(html.encode("windows-1252"))
    assert isinstance(article, Article)
    assert "Die Straße führt über den Fluß" in article.text


def test_hashed_markup_has_no_semantic_tags_or_names_left() -> None:
    html = seed_html("000_d467d9e684ffadb1.txt", hashed=True)
    body = html[html.index("<body"):]
    for tag in ("<nav", "<aside", "<footer", "<header", "<article", "<form", "<section"):
        assert tag not in body
    assert 'class="entry-content' not in body


def test_comment_and_newsletter_boxes_go_whatever_their_markup() -> None:
    story = " ".join(["The council approved the new bridge after a long debate about its cost."] * 6)
    html = f"""<html><body><div class="x1"><div class="x2"><p>{story}</p><p>{story}</p></div>
      <div class="x3"><div class="x4">Join the conversation</div><div class="x5">Be kind and stay on topic</div>
        <textarea></textarea><button>Send</button></div>
      <div class="x6"><div>Stories like this, twice a week</div><input type="email"><button>Go</button></div>
    </div></body></html>"""
    text = clean(html).text
    assert "The council approved the new bridge" in text
    for chrome in ("Join the conversation", "Be kind", "twice a week"):
        assert chrome not in text


@pytest.mark.parametrize(
    "line",
    [
        "Read more: Recognizing Germany's colonial past",
        "Lea también: Impiden ingreso a Nicaragua",
        "Subscribe now to our eNATION edition for the latest news",
        "Follow The Gleaner on Twitter and Instagram",
        "This article is the copyrighted property of the publisher.",
        "By using this site, you agree to the Privacy Policy and Terms of Use.",
        "Your email address will not be published. Required fields are marked *",
        "Advertisement",
        "Zurück zur Listenansicht",
        "Back to the newsroom",
        "Anzeige, enthält Affiliate-Links",
        "This post contains affiliate links; we may earn a commission when you buy through them.",
        "Titelbild: Jane Doe / Example Agency",
        "Table of contents",
    ],
)
def test_boilerplate_lines_in_the_body_are_dropped(line: str) -> None:
    story = " ".join(["Farmers in the valley expect a good harvest after the spring rains."] * 5)
    html = f"<html><body><article><p>{story}</p><p>{line}</p><p>{story} Prices may fall.</p></article></body></html>"
    text = clean(html).text
    assert line not in text
    assert "Prices may fall." in text


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression's source."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "[":
            i = pattern.index("]", i + 2)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*parts, pattern[start:]]


def test_each_alternative_of_a_prefiltered_rule_holds_one_of_its_strings() -> None:
    # A line without any of a rule's strings is not searched: an alternative added to a pattern
    # without one would never match.
    for pattern, _, needles in boilerplate._SHORT_LINE_RULES:
        for alternative in _alternatives(pattern.pattern) if needles else []:
            assert any(needle in alternative for needle in needles), (alternative, needles)


@pytest.mark.parametrize("line", ["Back to basics", "Zurück zur Natur", "Fotos aus dem Urlaub zeigen leere Strände."])
def test_headings_and_sentences_like_chrome_phrases_are_kept(line: str) -> None:
    story = " ".join(["Farmers in the valley expect a good harvest after the spring rains."] * 5)
    html = f"<html><body><article><p>{story}</p><h2>{line}</h2><p>{story} Prices may fall.</p></article></body></html>"
    assert line in clean(html).text


def test_date_from_the_url_when_the_page_gives_none() -> None:
    story = " ".join(["The harbour reopened after the storm, and the ferries ran again on time."] * 5)
    html = f"<html><body><article><p>{story}</p><p>{story}</p></article></body></html>"
    assert clean(html, url="https://news.example/2024/03/05/harbour").published == "2024-03-05"
    assert clean(html, url="https://news.example/harbour").published is None


@dataclass
class _TypedModel(BlockModel):
    """The shipped model, told what kind of page it reads."""

    kind: str = "article"

    def page_type(self, page: PageInfo) -> np.ndarray:
        return np.eye(len(PAGE_TYPES))[PAGE_TYPES.index(self.kind)]


@pytest.mark.parametrize("kind, published", [("article", "2024-03-05"), ("forum", "2024-03-05"),
                                             ("product", None), ("listing", None), ("service", None)])
def test_a_date_in_the_page_text_is_looked_for_on_articles_and_threads_only(kind: str, published: str | None,
                                                                            ) -> None:
    # On WCXB's product, listing and service pages, a date htmldate found in the text was seldom the page's.
    model = _TypedModel(**vars(load(DEFAULT_MODEL)), kind=kind)
    assert clean(_DATED_IN_TEXT, url="https://harbour.example/harbour-reopens", model=model).published == published


def test_the_rules_look_for_a_date_in_the_page_text_whatever_the_page() -> None:
    assert clean(_DATED_IN_TEXT, url="https://harbour.example/harbour-reopens", model=None).published == "2024-03-05"


_DATED_IN_TEXT = """<html><body><main><h1>Harbour reopens</h1><p class="date">Updated on March 5, 2024</p>
  {}</main></body></html>""".format("".join(
    f"<p>{line} The harbour reopened after the storm, and the ferries ran again.</p>"
    for line in ("On Monday,", "By dawn,", "At noon,", "In the evening,", "Since then,")))
"""A page whose date is in its text only."""


@pytest.mark.parametrize("path", ["blocks", "rules"])
def test_cleaning_a_page_that_starts_with_an_address_fetches_nothing(server: LocalServer, path: str) -> None:
    # Its words apart by line breaks, no space in it: a string htmldate would take for an address to download.
    paragraphs = "".join("<p>{}.</p>".format("\n".join(f"{word}{i}" for i in range(40))) for word in ("word", "term"))
    page = f"{server.url('/leak')}\n<html><body><article>{paragraphs}</article></body></html>"
    assert " " not in page
    # An article: both paths look for its date in the page.
    model = _TypedModel(**vars(load(DEFAULT_MODEL)), kind="article") if path == "blocks" else None
    assert clean(page, url="https://harbour.example/", model=model).word_count == 80
    assert server.requests == []


def test_markdown_links_are_resolved_against_the_page_url() -> None:
    story = " ".join(["The museum reopened its west wing after two years of careful repairs."] * 4)
    html = f"""<html><body><article><p>{story} <a href="../tickets/">Tickets</a> and
      <a href="//cdn.example/map.pdf">a map</a>.</p><p>{story}</p></article></body></html>"""
    markdown = clean(html, url="https://museum.example/news/west-wing/").markdown
    assert "[Tickets](https://museum.example/news/tickets/)" in markdown
    assert "[a map](https://cdn.example/map.pdf)" in markdown


def test_json_ld_in_the_body_does_not_count_as_text_on_the_page() -> None:
    # The article sits in a wrapper whose name says "sidebar"; it survives only as the main block,
    # which a long JSON-LD script beside it must not outweigh.
    story = " ".join(["The orchestra's new season opens with a programme of rarely played works."] * 6)
    json_ld = json.dumps({"@type": "ItemList", "description": "Concert listings for the season ahead. " * 40})
    html = f"""<html><body><script type="application/ld+json">{json_ld}</script>
      <div class="layout-with-sidebar"><p>{story}</p><p>{story}</p></div></body></html>"""
    assert "rarely played works" in clean(html).text


def _news_page(between: str) -> str:
    """A news page whose headline and body sit in separate boxes, with `between` between them."""
    story = ["The city council voted on Tuesday to turn the old tram depot into a covered market.",
             "Traders who now sell from stalls on the square will be offered the first places in the hall.",
             "Work on the roof is to start in the spring, and the market should open in the autumn."]
    paragraphs = "".join(f"<p>{line} {line}</p>" for line in story)
    return f"""<html><body><div class="c1"><div class="c2"><h1>Old tram depot to become a market</h1>
      <div class="c3">{between}</div></div>
      <div class="c4"><div class="c5">{paragraphs}</div></div></div></body></html>"""


def test_the_lead_between_headline_and_body_is_kept_first() -> None:
    lead = ("After years of debate, the depot on Mill Road gets a second life: the council backs a plan"
            " that keeps its brick halls and brings the weekly market in from the cold.")
    text = clean(_news_page(f"<div>{lead}</div>")).text
    assert text.startswith(lead + "\n\n")
    assert text.count("the depot on Mill Road") == 1


@pytest.mark.parametrize("between", [
    "<figure><img src='depot.jpg'><figcaption>The depot's main hall, empty since the last tram left"
    " in 1998, will hold up to sixty stalls.</figcaption></figure>",
    "<div><img src='depot.jpg'><div>The depot's main hall, empty since the last tram left in 1998,"
    " will hold up to sixty stalls. (Photo: City Archive)</div></div>",
    "<div>Sign up for our free daily newsletter and get the latest local news in your inbox every morning.</div>",
])
def test_captions_and_pitches_between_headline_and_body_are_not_a_lead(between: str) -> None:
    text = clean(_news_page(between)).text
    assert text.startswith("The city council voted")
    assert "sixty stalls" not in text and "newsletter" not in text


@pytest.mark.parametrize(("line", "pitch"), [
    ("Sign up for our free daily newsletter and get the latest local news.", True),
    ("Follow The Gleaner on Twitter and Instagram @JamaicaGleaner.", True),
    ("Receive free Japanese politics & policy updates", True),
    ("Pour rester informé inscrivez-vous à la newsletter", True),
    ("Puede seguir a Materia en Facebook o suscribirse aquí a nuestra newsletter.", True),
    ("To view the full story, please subscribe to The Haitian Times.", True),
    # An article on services and marketing says as much without asking the reader for anything.
    ("Most services offer 30-day trials, so you can test them risk-free.", False),
    ("Discount applies to qualified passengers only. Children staying free in room do not qualify.", False),
    ("Email marketing lets businesses send branded content to their customers.", False),
    ("The free version of the app limits lessons a day; full access needs a paid subscription.", False),
])
def test_a_pitch_asks_the_reader_to_act_on_a_channel(line: str, pitch: bool) -> None:
    assert boilerplate.is_boilerplate(line, boilerplate.line_key(line)) is pitch
    assert boilerplate.is_boilerplate(line) is pitch  # the key worked out when not given


@pytest.mark.parametrize("line", ["Advertisement", "SHARE THIS ARTICLE:", "Read\u00a0more", "Ｒｅａｄ ｍｏｒｅ",
                                  "Share this story"])
def test_a_stock_line_is_chrome_in_any_case_spacing_or_width(line: str) -> None:
    assert boilerplate.is_boilerplate(line)


@pytest.mark.parametrize("text", [
    "".join(map(chr, range(128))) * 2,  # every ASCII character, word or not
    "".join(map(chr, range(0x250))),  # every Latin-1 character and more: the bytes path and the regex's
    "Wohnfläche 63m², ½ Tasse, 5 cm³ ¹",  # numbers that are no decimal digits: in a run of letters
    "It’s “quoted” — and … • „so“",  # quotes and dashes beyond Latin-1, in Latin-1 text
    "ΟΔΟΣ’Α ΟΔΟΣ’ Σ",  # a Greek sigma lower-cased as final or not, by what follows it
    "Snake_case, CamelCase and 42 numbers: x2 — all in one line.",
    "Ünïcödé façade’s naïve “quotes” — 東京 2023年 Straße ΣΟΦΊΑ",
    "", "   ", "___", "a",
])
def test_words_are_the_runs_the_regex_finds(text: str) -> None:
    assert lower_words(text) == re.findall(r"\w+", text.lower())
    assert lower_letters(text) == re.findall(r"[^\W\d_]+", text.lower())


_SUMMARY = ("After years of debate, the depot on Mill Road gets a second life: the council backs a plan"
            " that keeps its brick halls and brings the weekly market in from the cold.")


@pytest.mark.parametrize("described", [True, False])
def test_the_summary_the_page_shows_over_its_picture_is_kept_first(described: bool) -> None:
    # Set in the picture's caption, the standfirst reads as a caption; the page's own
    # description says it is the summary of the article.
    meta = f'<meta name="description" content="{_SUMMARY}">' if described else ""
    html = _news_page(f"<figure><img src='depot.jpg'><figcaption>{_SUMMARY}<span>Photo: City Archive</span>"
                      "</figcaption></figure>").replace("<html>", f"<html><head>{meta}</head>")
    text = clean(html).text
    assert text.startswith(_SUMMARY + "\n\n") is described
    assert "City Archive" not in text


def test_a_summary_in_chinese_that_markup_splits_is_found() -> None:
    # Written without spaces, the opening "word" runs to the comma: bold type splits it.
    summary = ("蔡健雅是新加坡出生的华语流行乐女歌手、音乐制作人和词曲创作人，"
               "一九九七年在新加坡发行英语专辑正式出道，后来定居台湾。")
    shown = summary.replace("华语流行乐", "<b>华语</b>流行乐")
    html = _news_page(f"<figure><img src='a.jpg'><figcaption>{shown}</figcaption></figure>").replace(
        "<html>", f'<html><head><meta name="description" content="{summary}"></head>')
    assert clean(html).text.startswith(summary + "\n\n")


def test_a_description_that_repeats_the_headline_is_not_a_lead() -> None:
    headline = "Old tram depot on Mill Road to become a covered market for the weekly traders"
    html = _news_page("").replace("<html>", f'<html><head><meta name="description" content="{headline}"></head>')
    text = clean(html.replace("Old tram depot to become a market", headline)).text
    assert text.startswith("The city council voted")


def _page_ending_in(box: str) -> str:
    story = ["The city council voted on Tuesday to turn the old tram depot into a covered market, after a"
             " debate that lasted six hours.",
             "Traders who now sell from stalls on the square will be offered the first places in the hall,"
             " the mayor said."]
    bio = "<p>Jane Doe has covered the city hall for the paper since 2015 and writes about transport.</p>"
    return (f"<html><body><div class='x'><h1>Old tram depot to become a market</h1>"
            f"{''.join(f'<p>{line}</p>' for line in story)}{box}{bio}</div></body></html>")


def test_a_box_of_related_links_goes_with_its_heading() -> None:
    teasers = "".join(f'<p><a href="/news/{n}">{title}</a></p>' for n, title in enumerate(
        ["Bus lanes on the ring road open next week", "A new bridge for the harbour quarter"]))
    text = clean(_page_ending_in(f"<p>More from the city:</p>{teasers}")).text
    assert "More from the city" not in text and "Bus lanes" not in text and "harbour" not in text
    assert text.endswith("writes about transport.")


@pytest.mark.parametrize("section", [
    "<p>More from the council's report</p><p>The report also asks for a bicycle park beside the hall.</p>",
    '<p>Weitere genutzte Quellen:</p><p><ref target="https://example.org/a">https://example.org/a</ref></p>',
])
def test_a_section_or_a_list_of_sources_under_a_related_heading_is_kept(section: str) -> None:
    # Extracted trees as trafilatura gives them: it drops most such lists on its own.
    before, after = ("".join(f"<p>Part {n} of the story of the tram depot that is to become a covered market.</p>"
                             for n in parts) for parts in ((1, 2, 3), (4, 5, 6)))
    xml = f"<body>{before}{section}{after}</body>"
    body = etree.fromstring(xml)
    drop_boilerplate(body)
    assert etree.tostring(body, encoding=str) == xml


def test_slides_hidden_by_style_beside_the_shown_one_are_kept() -> None:
    # A gallery article shows one slide at a time; the others wait with display:none.
    slides = [f"Item {n}: a folding crate that turns a small balcony into a place to grow herbs, tomatoes"
              f" and strawberries, sold in {n} colours." for n in range(1, 5)]
    hidden = ' class="slide off" style="display:none"'
    sections = "".join(f'<div{hidden if n else " class=slide"}><p>{slide}</p><p>{slide}</p></div>'
                       for n, slide in enumerate(slides))
    html = f"""<html><body><div class="g"><h1>Balcony gardening</h1>{sections}</div>
      <div style="display:none"><p>{"You have reached the limit of free articles this month. " * 4}</p></div>
      </body></html>"""
    text = clean(html).text
    assert all(slide in text for slide in slides)
    assert "limit of free articles" not in text


def test_a_short_article_that_ends_in_a_sign_up_form_is_kept() -> None:
    story = ("The volunteer fire brigade of the village celebrated its hundredth anniversary on Saturday with a"
             " parade of old engines, a brass band and a barbecue that lasted well into the night.")
    html = f"""<html><body><div class="a1"><h1>A hundred years of the fire brigade</h1>
      <div class="a2"><p>{story}</p><div><div>Stories like this, twice a week</div><input type="email">
      <button>Go</button></div></div></div>
      <div class="a3"><p>{"Other news from the region, in brief and with links to the full stories. " * 3}</p></div>
      </body></html>"""
    text = clean(html).text
    assert story in text
    assert "twice a week" not in text


_BRIDGE = [f"The council approved the new bridge on its {n}th sitting, after a debate about its cost, which rose"
           f" by a third since the first plans were drawn up." for n in range(4, 10)]
_STORY = "".join(f"<p>{line}</p>" for line in _BRIDGE)


@pytest.mark.parametrize(("lang", "page", "notice"), [
    # Beside the form, as its sibling, in the article's own box: no container of its own.
    ("en", f"<div class=a><h1>New bridge approved</h1>{_STORY}<p>{{notice}}</p>"
           "<form><p><textarea name=comment></textarea></p><p><input type=email name=email></p></form></div>",
     "Comments are moderated and will appear after approval. Please stay on topic."),
    # Over the form, in a box with the form's heading.
    ("de", f"<div class=a><div class=b><h1>Neue Brücke</h1>{_STORY}</div><div class=c><h3>Kommentar schreiben</h3>"
           "<p>{notice}</p><form><textarea></textarea><input type=text name=author></form></div></div>",
     "Kommentare werden vor der Veröffentlichung von der Redaktion geprüft."),
    # Under the form, in a box of its own.
    ("nl", f"<div class=a><div class=b><h1>Nieuwe brug</h1>{_STORY}</div><div class=c><form><textarea></textarea>"
           "</form></div><div class=d>{notice}</div></div><div class=e><p>© 2024 De Krant</p></div>",
     "Reacties verschijnen pas na goedkeuring door de redactie."),
])
def test_a_comment_moderation_notice_beside_the_form_goes(lang: str, page: str, notice: str) -> None:
    html = hash_markup(f"<html lang={lang}><body>{page.format(notice=notice)}</body></html>")
    text = clean(html, "https://news.example/2024/bridge").text
    assert all(line in text for line in _BRIDGE)
    assert notice not in text


@pytest.mark.parametrize("header", [
    # The name a link home, the tagline a paragraph under it.
    "<div class=h><p class=n><a href='https://janes.example/'>Jane's Town Notes</a></p>"
    "<p class=t>{tagline}</p></div>",
    # The name as the page's metadata gives it, the tagline beside it.
    "<div class=h><div class=n>Jane's Town Notes</div><div class=t>{tagline}</div></div>",
])
def test_a_blogs_tagline_under_its_name_goes(header: str) -> None:
    tagline = "Small stories from a small town, written over breakfast."
    html = hash_markup(f"""<html><head><meta property="og:site_name" content="Jane's Town Notes"></head><body>
      {header.format(tagline=tagline)}<div class=m><h1>New bridge approved</h1>{_STORY}</div></body></html>""")
    text = clean(html, "https://janes.example/2024/bridge").text
    assert all(line in text for line in _BRIDGE)
    assert tagline not in text and "Town Notes" not in text


def test_the_rules_clean_too_when_asked() -> None:
    # model=None: trafilatura and the rules, the cleaner of earlier versions.
    html = f"<html><body><article><h1>New bridge approved</h1>{_STORY}</article></body></html>"
    for article in clean(html), clean(html, model=None):
        assert all(line in article.text for line in _BRIDGE)
        assert article.title == "New bridge approved"


def test_line_breaks_stay_in_the_text_and_the_words_are_the_same() -> None:
    # A thread's post whose paragraphs are apart by <br><br>, an address by <br>.
    post = "<br><br>".join(_BRIDGE[:3])
    html = (f"<html><body><article><h1>New bridge approved</h1><div class=post>{post}</div>{_STORY}"
            "<p>Harbour Office<br>1 Quay Street<br>Portsmouth</p></article></body></html>")
    article = clean(html, url="https://harbour.example/bridge")
    paragraphs = article.text.split("\n\n")
    assert paragraphs[:3] == _BRIDGE[:3]
    assert "Harbour Office\n1 Quay Street\nPortsmouth" in paragraphs
    # The model read each block as one run of words, as before: the same words, only the lines differ.
    flat = clean(html.replace("<br>", " "), url="https://harbour.example/bridge")
    assert article.text.split() == flat.text.split()


def test_titles_and_bylines_are_read_with_their_words_apart() -> None:
    html = ("<html><body><article><h1>Harbour <em>plan</em><br>approved</h1><p class=byline>By <a>Ann Lee</a>"
            f"</p>{_STORY}</article></body></html>")
    article = clean(html, url="https://harbour.example/plan")
    assert (article.title, article.authors) == ("Harbour plan approved", ("Ann Lee",))


def test_the_rules_keep_apart_the_paragraphs_of_a_layout_tables_cell() -> None:
    # An older page's story: a cell of text between line breaks, which trafilatura makes paragraphs of.
    paragraphs = [f"The {who} met on Tuesday to discuss the harbour plan, and said the works would start in spring."
                  for who in ("council", "board", "committee", "panel")]
    html = ("<html><body><table><tr><td><a href='/'>Home</a><br><a href='/news'>News</a></td><td>"
            f"<font size=4><b>Harbour plan approved</b></font><br><br>{'<br><br>'.join(paragraphs)}</td></tr>"
            "</table></body></html>")
    article = clean(html, url="http://old.example/news/1.html", model=None)
    lines = article.text.splitlines()
    assert all(paragraph in lines for paragraph in paragraphs)
    assert "approvedThe" not in article.text and "spring.The" not in article.text
    row = next(line for line in article.markdown.splitlines() if "Harbour plan approved" in line)
    assert row.startswith("| ") and row.endswith(" |") and paragraphs[-1] in row  # the table's row on one line


def test_the_rules_render_a_heading_with_a_line_break_on_one_line() -> None:
    body = etree.fromstring("<body><head rend='h2'>Harbour plan<lb/>approved</head><p>First<lb/>second</p></body>")
    text, markdown = render(body)
    assert text == "Harbour plan approved\n\nFirst\nsecond"
    assert markdown == "## Harbour plan approved\n\nFirst\nsecond"


def test_prose_about_copyright_is_not_a_rights_notice() -> None:
    story = " ".join(["Musicians say the streaming payouts they receive barely cover the cost of recording."] * 5)
    prose = ("The court ruled that the sampled chorus was protected by copyright and that the label owed the"
             " songwriter a share of the royalties earned since the record came out.")
    html = f"""<html><body><article><p>{story}</p><p>{prose}</p><p>Copyright 2024 Example Media</p>
      <p>{story} Appeals are expected.</p></article></body></html>"""
    text = clean(html).text
    assert prose in text and "Appeals are expected." in text
    assert "Copyright 2024" not in text


def test_elements_without_text_go_and_the_words_around_them_stay_apart() -> None:
    tree = LexborHTMLParser("""<html><body><div class="w1"><div class="w2"><i class="icon"></i></div></div>
      <div id="a">tram<div></div>depot <b>old</b><span> </span><b>hall</b></div>
      <table><tr><td></td><td>stalls</td></tr></table><p><img src="hall.jpg"></p></body></html>""")
    prune(tree)
    html = tree.html or ""
    assert "w1" not in html and "w2" not in html and "icon" not in html
    assert tree.css_first("#a").text() == "tram depot old hall"
    assert len(tree.css("td")) == 2  # an empty cell keeps the columns in line
    assert tree.css_first("img") is not None


@pytest.mark.parametrize("text", ["", "one", "one two, three.", "w " * 9, "w " * 10, "w " * 11, "日本語のテキスト"])
def test_has_words_says_what_word_count_would_without_counting_past_the_least(text: str) -> None:
    for least in (0, 1, 3, 10):
        assert has_words(text, least) == (word_count(text) >= least)
