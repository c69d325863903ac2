"""The block model's parts: segmentation into blocks, labels for training, and a cleaner that
gives the same text for the same page in every process."""

from __future__ import annotations

import json
import subprocess
import sys

from selectolax.lexbor import LexborHTMLParser

from bench.train import align
from scraper.cleaner import DEFAULT_MODEL, clean
from scraper.cleaner.blocks import MAX_NODES, segment
from tests.conftest import SEEDS


def blocks_of(html: str) -> list[tuple[str, str]]:
    seg = segment(LexborHTMLParser(html).body)
    return [(block.tag, block.text) for block in seg.blocks]


def test_a_block_is_the_text_of_a_block_element_up_to_the_next_one_inside_it() -> None:
    html = ("<body><div>Lead text <b>bold</b> here<p>A paragraph with <a href='/x'>a link</a>.</p>"
            "tail of the div</div><ul><li>one</li><li>two</li></ul></body>")
    assert blocks_of(html) == [("div", "Lead text bold here"), ("p", "A paragraph with a link."),
                               ("div", "tail of the div"), ("li", "one"), ("li", "two")]


def test_links_are_counted_and_hidden_or_noscript_parts_are_read_and_marked() -> None:
    seg = segment(LexborHTMLParser(
        "<body><p>Read <a href='/a'>this</a></p><div hidden><p>streamed in later</p></div>"
        "<noscript><p>for crawlers</p></noscript><script>var x = 'never'</script></body>").body)
    texts = [block.text for block in seg.blocks]
    assert texts == ["Read this", "streamed in later", "for crawlers"]
    assert seg.blocks[0].link_chars == len("this")
    assert "hidden" in seg.elements[seg.blocks[1].element].landmarks
    assert "noscript" in seg.elements[seg.blocks[2].element].landmarks


def test_preformatted_text_keeps_its_lines_and_spaces() -> None:
    [(tag, text)] = blocks_of("<body><pre>def f():\n    return  1\n</pre></body>")
    assert (tag, text) == ("pre", "def f():\n    return  1")


def test_nesting_thousands_deep_and_huge_pages_are_bounded() -> None:
    deep = "<body>" + "<div>" * 5_000 + "deep text" + "</div>" * 5_000 + "</body>"
    assert blocks_of(deep) == [("div", "deep text")]
    wide = "<body>" + "<p>x</p>" * (MAX_NODES + 1000) + "</body>"
    assert len(blocks_of(wide)) < MAX_NODES


def test_training_labels_follow_the_reference_in_order() -> None:
    reference = ("The river rose by two metres overnight and the town council opened the shelters.\n\n"
                 "Share your photos with us.\n\nAbout")
    blocks = ["About", "Share", "The river rose by two metres overnight and the town council opened the shelters.",
              "Share your photos with us.", "About"]
    # A short block counts only where it falls between the long ones that were found: the menu's
    # "About" and "Share" come before the text that the reference starts with.
    assert align(blocks, reference).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_the_same_page_gives_the_same_text_in_every_process() -> None:
    html = (SEEDS / "002_60c7648376388afa.html").read_bytes()
    here = clean(html, url="https://example.com/a", model=DEFAULT_MODEL).text
    assert clean(html, url="https://example.com/a", model=DEFAULT_MODEL).text == here
    assert here != clean(html, url="https://example.com/a").text  # the model's, not the rules'
    code = ("import json, sys; from scraper.cleaner import DEFAULT_MODEL, clean; print(json.dumps("
            "clean(sys.stdin.buffer.read(), url='https://example.com/a', model=DEFAULT_MODEL).text))")
    there = subprocess.run([sys.executable, "-c", code], input=html, capture_output=True, check=True).stdout
    assert json.loads(there) == here
