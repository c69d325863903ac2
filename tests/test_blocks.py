"""The block model's parts: segmentation into blocks, labels for training, and a cleaner that
gives the same text for the same page in every process."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from selectolax.lexbor import LexborHTMLParser

from bench.ceiling import score
from bench.train import align, snippet_labels
from bench.wcxb import Page
from scraper.cleaner import DEFAULT_MODEL, clean, clean_timed
from scraper.cleaner.blocks import MAX_NODES, class_tokens, segment
from scraper.cleaner.chrome import drop_chrome
from scraper.cleaner.compose import compose
from scraper.cleaner.features import BASE_NAMES, CONTEXT_NAMES, _character_columns, context_features
from scraper.cleaner.model import BlockModel
from scraper.cleaner.page import PAGE_TYPES, read_page
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


def test_elements_alike_under_one_parent_share_a_group_and_no_others_do() -> None:
    """A thread's posts: the same tag and class under one parent; the same class under another
    parent, or another tag, is another group."""
    seg = segment(LexborHTMLParser(
        "<body><div class='posts'><div class='post'>one</div><div class='post'>two</div>"
        "<section class='post'>three</section></div><div class='other'><div class='post'>four</div></div>"
        "</body>").body)
    group = {block.text: seg.elements[block.element].group for block in seg.blocks}
    assert group["one"] == group["two"]
    assert len({group["one"], group["three"], group["four"]}) == 3
    assert seg.elements[0].group == 0 and 0 not in group.values()  # the body is alone


def test_preformatted_text_keeps_its_lines_and_spaces() -> None:
    [(tag, text)] = blocks_of("<body><pre>def f():\n    return  1\n</pre></body>")
    assert (tag, text) == ("pre", "def f():\n    return  1")


def test_a_block_counts_its_words_once_as_its_text_splits() -> None:
    seg = segment(LexborHTMLParser("<body><p>Two\n  <b>words</b>, then\tthree</p><pre>x = 1\n\ny  =  2</pre>"
                                   "<p> <br> </p></body>").body)
    assert [(block.text, block.words) for block in seg.blocks] == [("Two words, then three", 4),
                                                                  ("x = 1\n\ny  =  2", 6)]


def test_line_breaks_are_spaces_to_the_model_and_lines_to_the_reader() -> None:
    html = ("<body><div>First line,\nstill the first<br>second line<br><br> <br>a paragraph after<br></div>"
            "<h2>A heading<br>on two lines</h2><table><tr><td>Cost<br>(millions)</td><td>12</td></tr></table>"
            "<pre>a<br>b</pre></body>")
    seg = segment(LexborHTMLParser(html).body)
    assert [block.text for block in seg.blocks] == [
        "First line, still the first second line a paragraph after", "A heading on two lines", "Cost (millions)", "12",
        "a\nb"]
    assert seg.blocks[0].lines == "First line, still the first\nsecond line\n\na paragraph after"
    text, markdown = compose(seg, list(range(len(seg.blocks))))
    assert text.split("\n\n") == ["First line, still the first\nsecond line", "a paragraph after",
                                    "A heading on two lines", "Cost (millions) | 12", "a\nb"]
    # A heading and a table's row are one line in Markdown too.
    assert {"## A heading on two lines", "| Cost<br>(millions) | 12 |"} <= set(markdown.splitlines())


def test_a_layout_tables_cells_are_paragraphs_and_a_data_tables_rows_stay_a_table() -> None:
    # The first table lays a story out, a cell to a row; the second holds data, one of its rows
    # with a single cell that has text.
    html = ("<body><table><tr><td>The story's first line<br><br>Its second paragraph</td></tr>"
            "<tr><td>More of the story</td></tr></table>"
            "<table><tr><td>Cost</td><td>12</td></tr><tr><td>Length</td><td></td></tr></table></body>")
    seg = segment(LexborHTMLParser(html).body)
    text, markdown = compose(seg, list(range(len(seg.blocks))))
    story = ["The story's first line", "Its second paragraph", "More of the story"]
    assert markdown.split("\n\n")[:3] == text.split("\n\n")[:3] == story
    assert markdown.split("\n\n")[3] == "| Cost | 12 |\n| --- | --- |\n| Length |"


def test_the_characters_of_all_blocks_are_counted_at_once_as_python_counts_each_blocks() -> None:
    texts = ["Hello, World 42.", "Ärger ٣ Ωmega, ½!", "x", "日本語。はい？", "A\ud800b)", "ǅ Ⅻ ²"]
    ends, sentences, commas, digits, capitals = _character_columns(texts, np.array([len(t) for t in texts]))
    assert list(ends) == [t[-1] in ".!?。！？:;\"”’)" for t in texts] == [True, True, False, True, True, False]
    assert list(sentences) == [sum(c in ".!?。！？" for c in t) for t in texts]
    assert list(commas) == [t.count(",") for t in texts]
    assert list(digits) == [sum(c.isdigit() for c in t) for t in texts] == [2, 1, 0, 0, 0, 1]
    assert list(capitals) == [sum(c.isupper() for c in t) for t in texts]


def test_nesting_thousands_deep_and_huge_pages_are_bounded() -> None:
    deep = "<body>" + "<div>" * 5_000 + "deep text" + "</div>" * 5_000 + "</body>"
    assert blocks_of(deep) == [("div", "deep text")]
    wide = "<body>" + "<p>x</p>" * (MAX_NODES + 1000) + "</body>"
    assert len(blocks_of(wide)) < MAX_NODES


def test_the_context_pass_sees_a_blocks_neighbours_containers_and_alike_elements() -> None:
    """A list item the first pass doubts, between items it keeps, is told so: by its
    neighbours' verdicts, its list's and its alike siblings'; the kept text's place too."""
    seg = segment(LexborHTMLParser(
        "<body><nav><a href='/'>Home</a></nav><h1>Ten tools</h1><ul class='tools'>"
        "<li>First tool, words words</li><li>Second tool</li><li>Third tool, words</li></ul>"
        "<footer>Contact us</footer></body>").body)
    assert [b.text for b in seg.blocks] == ["Home", "Ten tools", "First tool, words words", "Second tool",
                                            "Third tool, words", "Contact us"]
    verdicts = np.array([0.1, 0.9, 0.9, 0.3, 0.9, 0.1])
    page_type = np.eye(len(PAGE_TYPES))[0]
    first = np.arange(6 * len(BASE_NAMES), dtype=np.float32).reshape(6, -1)  # stands for the first-pass columns
    own = first[:, 1:]  # all but the tag, which the context pass has among its own columns
    rows = context_features(seg, verdicts, page_type, first)
    assert rows.shape == (6, len(CONTEXT_NAMES) + len(PAGE_TYPES) + len(BASE_NAMES) - 1)
    column = {name: i for i, name in enumerate(CONTEXT_NAMES)}
    doubted = rows[3]
    assert doubted[column["verdict"]] == np.float32(0.3)
    assert (doubted[column["verdict_-1"]], doubted[column["verdict_+1"]]) == (np.float32(0.9), np.float32(0.9))
    assert rows[0][column["verdict_-1"]] == -1  # nothing before the first block
    # The list's three items are alike: each sees their verdicts, weighed by words (4, 2, 3).
    alike = (0.9 * 4 + 0.3 * 2 + 0.9 * 3) / 9
    assert np.allclose(rows[2:5, column["alike_verdict"]], alike) and list(rows[2:5, column["alike_count"]]) == [3] * 3
    assert rows[3][column["parent_verdict"]] == np.float32(alike)  # the <ul> holds just them
    assert (doubted[column["blocks_since_kept"]], doubted[column["blocks_to_kept"]]) == (1, 1)
    assert rows[0][column["blocks_since_kept"]] == 50 and rows[5][column["blocks_to_kept"]] == 50
    assert list(rows[0, len(CONTEXT_NAMES):len(CONTEXT_NAMES) + len(PAGE_TYPES)]) == list(page_type)
    assert (rows[:, len(CONTEXT_NAMES) + len(PAGE_TYPES):] == own).all()  # each block beside its own columns


def test_a_saved_model_keeps_its_context_pass_and_gives_the_same_verdicts(tmp_path: Path) -> None:
    model = BlockModel.from_file(DEFAULT_MODEL)
    assert model.context is not None, "the shipped model has a context pass"
    model.save(tmp_path / "again.model")
    again = BlockModel.from_file(tmp_path / "again.model")
    tree = LexborHTMLParser(sorted(SEEDS.glob("*.html"))[0].read_text(encoding="utf-8"))
    page = read_page(tree, "https://example.com/a", title=None, description=None, language="en")
    page_type = model.page_type(page)
    first_only = BlockModel(model.vocabulary, model.page_types, model.blocks, model.thresholds)
    verdicts, first = model.verdicts(page, page_type), first_only.verdicts(page, page_type)
    assert np.array_equal(again.verdicts(page, page_type), verdicts)
    assert len(verdicts) == len(page.segmentation.blocks) and not np.array_equal(verdicts, first)
    assert ((verdicts >= 0) & (verdicts <= 1)).all()


def test_training_labels_follow_the_reference_in_order() -> None:
    reference = ("The river rose by two metres overnight and the town council opened the shelters.\n\n"
                 "Share your photos with us.\n\nAbout")
    blocks = ["About", "Share", "The river rose by two metres overnight and the town council opened the shelters.",
              "Share your photos with us.", "About"]
    # A short block counts only where it falls between the long ones that were found: the menu's
    # "About" and "Share" come before the text that the reference starts with.
    assert align(blocks, reference).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_snippets_label_the_blocks_that_hold_them_and_leave_the_rest_unlabelled() -> None:
    blocks = ["The river rose by two metres overnight.", "Share this story", "Comments (3)",
              "The town council opened the shelters at noon, and the"]
    labels = snippet_labels(blocks, with_=["rose by two metres", "The town council opened the shelters at noon, and "
                                                                "the mayor spoke"], without=["Share this"])
    assert labels[:2].tolist() == [1.0, 0.0] and labels[3] == 1.0
    assert labels[2] != labels[2]  # NaN: the corpus says nothing of it


def test_the_same_page_gives_the_same_text_in_every_process() -> None:
    html = (SEEDS / "002_60c7648376388afa.html").read_bytes()
    here = clean(html, url="https://example.com/a", model=DEFAULT_MODEL).text
    assert clean(html, url="https://example.com/a", model=DEFAULT_MODEL).text == here
    article, seconds = clean_timed(html, url="https://example.com/a", model=DEFAULT_MODEL)
    assert article.text == here and seconds["model"] > 0 and seconds["extract"] == 0  # the model's, not the rules'
    code = ("import json, sys; from scraper.cleaner import DEFAULT_MODEL, clean; print(json.dumps("
            "clean(sys.stdin.buffer.read(), url='https://example.com/a', model=DEFAULT_MODEL).text))")
    there = subprocess.run([sys.executable, "-c", code], input=html, capture_output=True, check=True).stdout
    assert json.loads(there) == here


def test_chrome_the_model_keeps_is_dropped_by_rules_of_any_site() -> None:
    seg = segment(LexborHTMLParser(
        "<body><p>Kana Inagaki in Tokyo YESTERDAY</p>"
        "<p>The council voted on Tuesday to turn the old depot into a covered market for the town.</p>"
        "<p>Japan's prime minister on a tank. File photo: AFP</p>"
        "<p>Advertisement</p>"
        "<p>Work on the roof is to start in the spring, and the market should open in the autumn.</p>"
        "<h2>More from the city</h2><p><a href='/a'>Bus lanes on the ring road open next week</a></p>"
        "<p><a href='/b'>A new bridge for the harbour quarter</a></p>"
        "<h3>Related posts</h3><p>A teaser the model did not keep</p></body>").body)
    everything = list(range(len(seg.blocks)))
    kept = drop_chrome(seg, [i for i in everything if i != 9], authors=("Kana Inagaki",))
    assert [seg.blocks[i].text for i in kept] == [
        "The council voted on Tuesday to turn the old depot into a covered market for the town.",
        "Work on the roof is to start in the spring, and the market should open in the autumn."]


def test_on_a_listing_a_heading_over_a_run_of_links_is_the_list_and_stays() -> None:
    seg = segment(LexborHTMLParser(
        "<body><h1>Trails near the city</h1><p>Paths for all legs, from the lake to the hills.</p><h2>Easy walks:</h2>"
        "<p><a href='/t/1'>Lakeside loop, 4 km</a></p><p><a href='/t/2'>Old rail path, 6 km</a></p></body>").body)
    everything = list(range(len(seg.blocks)))
    assert drop_chrome(seg, everything, authors=(), page_type="listing") == everything
    assert drop_chrome(seg, everything, authors=(), page_type="article") == [0, 1]  # a box of related links


def test_text_the_page_shows_twice_is_kept_once_and_short_lines_may_repeat() -> None:
    description = "<p>A wheel thrown mug in our white speckle finish, glazed inside and out.</p><p>Size: 9 cm</p>"
    seg = segment(LexborHTMLParser(
        f"<body><div class='mobile'>{description}</div><div class='desktop'>{description}</div>"
        "<table><tr><td>Dishwasher safe</td><td>Yes</td></tr><tr><td>Microwave safe</td><td>Yes</td></tr></table>"
        "</body>").body)
    kept = drop_chrome(seg, list(range(len(seg.blocks))), authors=())
    assert [seg.blocks[i].text for i in kept] == [
        "A wheel thrown mug in our white speckle finish, glazed inside and out.", "Size: 9 cm", "Size: 9 cm",
        "Dishwasher safe", "Yes", "Microwave safe", "Yes"]


def test_documentation_keeps_the_steps_its_tabs_repeat() -> None:
    step = "<p>Install the package, then set the API key in your environment before the first call.</p>"
    seg = segment(LexborHTMLParser(f"<body><div class='tab'>{step}</div><div class='tab'>{step}</div></body>").body)
    everything = list(range(len(seg.blocks)))
    assert drop_chrome(seg, everything, authors=(), page_type="documentation") == everything
    assert drop_chrome(seg, everything, authors=(), page_type="article") == [0]


def _story_with_comments(paragraphs: int) -> str:
    story = "".join(f"<p>Paragraph {n} of the story tells how the council, the builders and the market traders "
                    "worked out the plan for the depot over the winter.</p>" for n in range(paragraphs))
    return (f"<body><article><h1>A market for the old depot</h1>{story}</article>"
            "<div id='comments' class='comments-area'><h2>3 comments</h2><ol class='commentlist'>"
            "<li class='comment'><p>About time the depot was used for something, it has stood empty for years.</p></li>"
            "<li class='comment'><p>Will there be parking for the traders' vans, or only the bus?</p></li>"
            "</ol></div></body>")


def test_an_article_loses_the_readers_comments_after_it_and_a_thread_keeps_its_posts() -> None:
    seg = segment(LexborHTMLParser(_story_with_comments(30)).body)  # 30 x 25 words before the comments
    everything = list(range(len(seg.blocks)))
    texts = [seg.blocks[i].text for i in drop_chrome(seg, everything, authors=(), page_type="article")]
    assert texts[0] == "A market for the old depot" and texts[-1].startswith("Paragraph 29 of the story")
    assert len(texts) == 31  # the heading and 30 paragraphs: no comment, nor their heading
    assert drop_chrome(seg, everything, authors=(), page_type="forum") == everything
    # A short post before its replies: a thread the model took for an article keeps them.
    short = segment(LexborHTMLParser(_story_with_comments(3)).body)
    assert drop_chrome(short, list(range(len(short.blocks))), authors=(), page_type="article") == \
        list(range(len(short.blocks)))


def test_a_product_loses_the_reviews_after_it_and_a_review_article_keeps_its_text() -> None:
    product = ("<body><div class='product'><h1>Stoneware mug</h1><p>Thrown by hand and glazed in speckled white, "
               "it holds 350 ml.</p><p>Dishwasher safe.</p></div>"
               "<section id='reviews' class='product-reviews'><h2>Customer Reviews</h2>"
               "<div class='review'><p>Lovely weight in the hand, my coffee stays warm.</p><p>Written by Ann</p></div>"
               "<div class='review'><p>Arrived well packed.</p></div></section></body>")
    seg = segment(LexborHTMLParser(product).body)
    everything = list(range(len(seg.blocks)))
    texts = [seg.blocks[i].text for i in drop_chrome(seg, everything, authors=(), page_type="product")]
    assert texts == ["Stoneware mug", "Thrown by hand and glazed in speckled white, it holds 350 ml.",
                     "Dishwasher safe."]
    assert drop_chrome(seg, everything, authors=(), page_type="listing") == everything
    # A critic's review is the article: named for reviews from the top, nothing of it stands before.
    review = segment(LexborHTMLParser("<body><article class='review'><h1>The mug, tested</h1><p>We drank from "
                                      "it for a month and it kept its glaze.</p></article></body>").body)
    everything = list(range(len(review.blocks)))
    assert drop_chrome(review, everything, authors=(), page_type="product") == everything


def test_a_heading_over_its_own_text_or_a_single_source_link_stays() -> None:
    seg = segment(LexborHTMLParser(
        "<body><h2>Why they flow</h2><p>Gravity pulls the water downhill.</p>"
        "<p>Sources:</p><p><a href='https://example.org/a'>https://example.org/a</a></p></body>").body)
    everything = list(range(len(seg.blocks)))
    assert drop_chrome(seg, everything, authors=()) == everything


@pytest.mark.parametrize(("names", "tokens"), [
    ("article-body post_content2 col-12 x", {"article", "body", "post", "content2", "col", "x"}),
    ("fooBar1Baz 22x 11 9-9 --", {"foo", "bar1baz", "22x"}),  # camelCase split; a run of digits alone is none
    ("ÄrtikelText café-liste", {"rtikel", "text", "caf", "liste"}),  # a letter outside a-z parts a name's runs
    ("", set()),
])
def test_an_elements_class_and_id_are_read_as_tokens(names: str, tokens: set[str]) -> None:
    assert class_tokens({"class": names, "id": None}) == tokens
    assert class_tokens({"class": None, "id": names}) == tokens


SEED_PAGE = "002_60c7648376388afa"


def seed_page_gzipped() -> bytes:
    return gzip.compress((SEEDS / f"{SEED_PAGE}.html").read_bytes())


def seed_page_reference() -> str:
    """The seed page's body paragraphs, as a WCXB reference."""
    return "\n\n".join(json.loads((SEEDS / "expected.json").read_text(encoding="utf-8"))[f"{SEED_PAGE}.txt"]["body"])


def shipped_as_fold_models(directory: Path) -> None:
    """The shipped model standing in for each fold's."""
    directory.mkdir(exist_ok=True)
    for fold in range(5):
        (directory / f"fold{fold}.model").symlink_to(DEFAULT_MODEL)


def test_the_ceiling_scores_the_blocks_the_reference_holds_the_models_and_its_best_cut(tmp_path: Path) -> None:
    shipped_as_fold_models(tmp_path)
    (tmp_path / "page.html.gz").write_bytes(seed_page_gzipped())
    page = Page("0001", "https://example.com/a", "article", seed_page_reference(), tmp_path / "page.html.gz")
    (blocks, model, best), texted = score(page, str(tmp_path))
    assert blocks == 1.0 and 0.8 < model <= best <= 1.0 and texted
    # A reference without words: keeping nothing is right, and every cut of the model keeps something.
    (blocks, model, best), texted = score(replace(page, main_content=""), str(tmp_path))
    assert (blocks, model, best) == (1.0, 0.0, 0.0) and texted


def test_the_bench_scores_wcxb_with_and_without_the_pages_whose_reference_holds_no_words(tmp_path: Path) -> None:
    """A page whose reference is empty scores 0 for any text: the bench's means over folds, of
    all pages and of those whose reference holds words, tell the two apart."""
    models = tmp_path / "models"
    shipped_as_fold_models(models)
    wcxb = tmp_path / "wcxb"
    (wcxb / "ground-truth").mkdir(parents=True)
    (wcxb / "html").mkdir()
    for number, reference in (("0001", seed_page_reference()), ("0002", "")):  # the same page twice, one site
        (wcxb / "html" / f"{number}.html.gz").write_bytes(seed_page_gzipped())
        (wcxb / "ground-truth" / f"{number}.json").write_text(json.dumps({
            "url": f"https://example.com/{number}", "ground_truth": {"main_content": reference},
            "_internal": {"page_type": {"primary": "article"}}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "bench/extract.py", "--set", "wcxb", "--wcxb", str(wcxb),
                           "--models", str(models)], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = {line.split("  ")[1].strip(): line.split()[-2:] for line in done.stdout.splitlines()
             if line.startswith(("  mean over folds", "  with a reference"))}
    (all_ours, all_theirs), (ours, theirs) = (map(float, lines[key]) for key in
                                              ("mean over folds", "with a reference (1)"))
    assert ours > 0.8 and theirs > 0.8  # both keep the article, and text on the empty page too
    assert all_ours == pytest.approx(ours / 2, abs=1e-4) and all_theirs == pytest.approx(theirs / 2, abs=1e-4)
