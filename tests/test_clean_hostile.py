"""Pages built to break the cleaner: each is cleaned, or refused with NoContent, never lost
to an unexpected error; where the page holds an article, the article comes out."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import fields

import pytest

from scraper import Article, NoContent, clean

_STORY = ["The city council voted on Tuesday to turn the old tram depot into a covered market.",
          "Traders who now sell from stalls on the square will be offered the first places in the hall.",
          "Work on the roof is to start in the spring, and the market should open in the autumn."]
_BODY = "".join(f"<p>{line} {line}</p>" for line in _STORY)
_HEADLINE = "Old tram depot to become a market"


def page(head: str = "", body: str = "", html_attributes: str = "", body_attributes: str = "") -> str:
    return (f"<html{html_attributes}><head><title>{_HEADLINE}</title>{head}</head>"
            f"<body{body_attributes}><article><h1>{_HEADLINE}</h1>{body}{_BODY}</article></body></html>")


def json_ld(data: str) -> str:
    return f'<script type="application/ld+json">{data}</script>'


def assert_has_the_story(article: Article) -> None:
    for line in _STORY:
        assert line in article.text


# Everything a page could slip into a field that a terminal would act on: C0 controls but
# tab and newline, DEL, C1 controls; and lone surrogates, which no encoding can write.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def unsafe_characters(article: Article) -> dict[str, list[str]]:
    found = {}
    for field in fields(article):
        value = getattr(article, field.name)
        for text in value if isinstance(value, tuple) else [value]:
            if isinstance(text, str) and (hits := _UNSAFE.findall(text)):
                found[field.name] = hits
    return found


@pytest.mark.parametrize("html", ["<html hidden>", '<html aria-hidden="true">'])
def test_a_bare_page_hidden_whole_has_no_content(html: str) -> None:
    with pytest.raises(NoContent):
        clean(html)


@pytest.mark.parametrize("html_attributes, body_attributes", [
    (" hidden", ""), (' aria-hidden="true"', ""), ("", " hidden"), ("", ' aria-hidden="true"'),
    (' style="display:none"', ""), ("", ' style="display:none"'), ("", ' style="visibility: hidden"'),
])
def test_a_page_hidden_whole_until_its_script_runs_keeps_its_article(html_attributes: str,
                                                                     body_attributes: str) -> None:
    article = clean(page(html_attributes=html_attributes, body_attributes=body_attributes))
    assert_has_the_story(article)


def test_a_hidden_main_element_around_the_article_is_kept() -> None:
    html = page().replace("<article>", '<main style="display: none"><article>').replace(
        "</article>", "</article></main><div style='display:none'>A hidden cookie notice.</div>")
    text = clean(html).text
    assert _STORY[0] in text and "cookie" not in text


@pytest.mark.parametrize("author", ["A\udfff", "Jane\ud800 Doe"])
def test_lone_surrogates_in_json_ld_become_replacement_characters(author: str) -> None:
    data = json.dumps({"@type": "NewsArticle", "headline": "Depot\ud800 news", "author": author,
                       "description": "A\udc00 summary"})  # json.dumps escapes them as \\udXXX
    article = clean(page(head=json_ld(data)))
    assert article.title == "Depot\ufffd news"
    assert article.authors == (author.replace("\udfff", "\ufffd").replace("\ud800", "\ufffd"),)
    assert unsafe_characters(article) == {}
    assert len(article.content_hash) == 64
    for value in article.to_dict().values():
        if isinstance(value, str):
            value.encode("utf-8")  # as sqlite will


def test_a_control_character_in_the_standfirst_that_is_put_back() -> None:
    lead = ("After years of debate, the depot on Mill Road gets a second life: the council backs a"
            " plan that keeps its brick halls and brings the weekly market in from the cold.")
    for control in ("\x11", "&#x11;", "&#xfffe;"):
        shown = lead.replace("debate", f"de{control}bate")
        html = (f"<html><body><div class='c1'><div class='c2'><h1>{_HEADLINE}</h1><div class='c3'>"
                f"<div>{shown}</div></div></div><div class='c4'><div class='c5'>{_BODY}</div></div></div>"
                "</body></html>")
        text = clean(html).text
        assert text.startswith(lead + "\n\n")


@pytest.mark.parametrize("url", [None, "http://[bad", "https://example.org/news/depot"])
def test_a_malformed_ipv6_address_in_a_link_or_the_page_url(url: str | None) -> None:
    head = '<link rel="canonical" href="http://[bad"><meta property="og:image" content="/depot.jpg">'
    article = clean(page(head=head, body='<p>See <a href="/more">the plans</a> of the hall.</p>'), url)
    assert_has_the_story(article)
    assert article.canonical_url == "http://[bad"
    assert article.image == ("https://example.org/depot.jpg" if url and "example" in url else "/depot.jpg")


def test_the_page_url_with_control_characters_and_a_surrogate() -> None:
    article = clean(page(body='<p>See <a href="more">the plans</a> of the hall.</p>'),
                    "https://example.org/\x1b[2J/\ud800/")
    assert_has_the_story(article)
    assert unsafe_characters(article) == {}


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_json_ld_nested_a_thousand_deep(opening: str, closing: str) -> None:
    deep = json_ld(opening * 1000 + "1" + closing * 1000)
    head = f'{deep}<meta name="author" content="Jane Doe">'
    article = clean(page(head=head))
    assert_has_the_story(article)
    assert article.authors == ("Jane Doe",)


def test_invalid_utf8_under_a_declared_utf8_is_read_as_utf8() -> None:
    body = "<p>The café’s owner said the “new hall” is a fine place for a market, and more.</p>"
    html = page(head="<meta charset=utf-8>", body=body).encode().replace(b"new hall", b"new\xff\xfe hall")
    article = clean(html)
    assert "The café’s owner said the “new\ufffd\ufffd hall”" in article.text
    assert_has_the_story(article)


_TERMINAL = "\x1b[2J\x1b]0;owned\x07\x9b31m\x7f\x00\x08"


def test_terminal_escapes_reach_no_field_of_the_article() -> None:
    escaped = "&#x1b;[2J&#27;]8;;http://evil/&#x1b;\\&#x7f;&#x01;"
    head = (f"<title>{_TERMINAL}Title</title>"
            f'<meta name="description" content="Summary {escaped} of the story">'
            f'<meta property="og:site_name" content="Site{escaped}">'
            f'<meta name="author" content="Jane{escaped} Doe">'
            f'<link rel="canonical" href="https://example.org/{escaped}">'
            f'<meta property="og:image" content="/a{escaped}.jpg">'
            f'<meta property="article:published_time" content="2024-01-02{escaped}">'
            + json_ld(json.dumps({"@type": "NewsArticle", "headline": f"Depot{_TERMINAL}news",
                                  "publisher": {"name": f"Paper{_TERMINAL}"}, "inLanguage": f"en{_TERMINAL}"})))
    body = f"<p>Opening{_TERMINAL} words {escaped} of <a href='/x{escaped}'>the story</a> told here.</p>"
    article = clean(page(head=head, body=body), "https://example.org/news/")
    assert_has_the_story(article)
    assert unsafe_characters(article) == {}
    assert article.title == "Depot[2J]0;owned31mnews"
    assert "Opening[2J]0;owned31m words" in article.text


def test_bidi_overrides_are_dropped_from_metadata() -> None:
    spoofed = "Invoice \u202egpj.exe\u202c"
    article = clean(page(head=f'<meta name="author" content="{spoofed}">'
                         f'<meta name="description" content="{spoofed}">'))
    assert article.authors == ("Invoice gpj.exe",)
    assert not any(unicodedata.category(ch) == "Cf" for ch in article.description or "")


def test_a_headline_of_control_characters_only_is_no_headline() -> None:
    head = json_ld(json.dumps({"@type": "NewsArticle", "headline": "\x1b\x07", "author": ["\x1b", "Jane Doe"]}))
    article = clean(page(head=head + '<meta property="og:site_name" content="&#x1b;&#x07;">'))
    assert article.title == _HEADLINE
    assert article.authors == ("Jane Doe",)
    assert article.site_name is None
