"""Remove site chrome from a parsed page before extraction, with selectolax.

Chrome is told by kind (nav, aside, footer, form, dialogs, hidden elements), by name
(class and id tokens such as cookie, share, related, comments) and by structure (the box
around a comment or e-mail field), but the block that holds the main run of text, its
ancestors and its look-alike siblings are never removed: names and tags can lie.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements that never hold article text. JSON-LD stays: trafilatura falls back on its articleBody
# when the page shows no body (metadata has been read from the unpruned page already).
_ALWAYS_DROP = ", ".join((
    "script:not([type='application/ld+json'])", "style", "template", "iframe",
    "object", "embed", "svg", "canvas", "[hidden]", "[aria-hidden='true']", "[aria-modal='true']",
))
_CONTROLS = "button, select, input, textarea"
# Where a reader types: the small box around such a control is a form (comments, newsletter,
# search, log-in), whatever its tag and class names say.
_TEXT_ENTRY = "textarea, input[type='email']"
_FORM_BOX_TEXT = 600
_PROSE = 150
"""Characters of a paragraph that is running text, not a form's label or note."""
# Elements that are chrome by kind; a page may still wrap its article in one (an ASP.NET
# <form>), so these go only when they hold a small part of the page's text.
_CHROME_ROLES = ("navigation", "complementary", "contentinfo", "dialog", "alertdialog", "search",
                 "menu", "menubar")
_CHROME_KINDS = ", ".join(
    ("nav", "aside", "footer", "form", "dialog", "noscript",
     *(f"[role='{role}']" for role in _CHROME_ROLES))
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# Tokens of class and id names that mark a container as chrome ...
_CHROME_TOKENS = frozenset("""
    cookie cookies consent gdpr newsletter subscribe subscription signup paywall
    share sharing sharer social socials sns related recommended recommendations
    comment comments disqus respond breadcrumb breadcrumbs sidebar
    advert adverts advertisement advertising ad ads adslot sponsor sponsored promo
    promotion popup modal menu navbar navigation footer toolbar tagcloud pagination pager
""".split())
# ... unless the same name also says it holds text ("article-comment-body").
_TEXT_TOKENS = frozenset({"body", "text", "content", "copy"})
_TOKEN_SPLIT = re.compile(r"[-_\s]+|(?<=[a-z])(?=[A-Z])")
# Any chrome token inside a lower-cased name: most names hold none, and this one search tells.
_CHROME_INSIDE = re.compile("|".join(sorted(_CHROME_TOKENS, key=len, reverse=True)))
# Leading words that make a name a switch ("no-share", "has-sidebar"), not a container.
_MODIFIERS = frozenset({"no", "has", "with", "show", "hide", "enable", "disable", "is"})
_NEVER_PRUNE = frozenset({"html", "body", "main", "article"})
_PAGE = frozenset({"html", "body"})


def name_tokens(names: str) -> set[str]:
    """The lower-case words of class or id names: "ArticleBody comment-form" -> article, body, comment, form."""
    return {token.lower() for token in _TOKEN_SPLIT.split(names) if token}


@functools.lru_cache(maxsize=4096)
def _is_chrome_value(value: str) -> bool:
    """Whether a class or id attribute names chrome; a page repeats its names, so cached (for
    a few pages' worth: a cleaning process would otherwise hold every name it ever saw)."""
    if _CHROME_INSIDE.search(value.lower()) is None:
        return False
    for name in value.split():
        if name.split("-")[0].lower() in _MODIFIERS:
            continue
        # A BEM modifier ("Section--Ads") is a variant of its block, not what the block is.
        tokens = name_tokens(name.split("--")[0])
        if tokens & _CHROME_TOKENS and not tokens & _TEXT_TOKENS:
            return True
    return False


def _is_chrome_name(node: LexborNode) -> bool:
    attributes = node.attributes
    return _is_chrome_value(attributes.get("id") or "") or _is_chrome_value(attributes.get("class") or "")


def _text_length(node: LexborNode) -> int:
    return len(node.text(deep=True, separator=" ", strip=True))


INLINE = frozenset("""
    a abbr b bdi bdo br cite code data dfn em font i kbd mark q s samp small span strong sub sup time u var
""".split())
_MIN_RUN = 25
"""Text pieces shorter than this (labels, links, dates) do not count toward the main block."""


def _main_block(body: LexborNode, hidden: set[int]) -> LexborNode | None:
    """The element that holds most running text.

    Running text is counted where it stands, in <p> or in a bare <div> or <td>, and credited
    to the container of its block.
    """
    scores: dict[int, tuple[int, LexborNode]] = {}
    for node in body.traverse(include_text=True):
        if not node.is_text_node:
            continue
        length = len((node.text_content or "").strip())
        if length < _MIN_RUN:
            continue
        block = node.parent
        if block is not None and block.tag == "script":
            continue  # the JSON-LD kept for trafilatura is not text on the page
        if hidden and _inside(block, hidden):
            continue
        while block is not None and block.tag in INLINE:
            block = block.parent
        container = block.parent if block is not None and block.tag in ("p", "li", "dd") else block
        if container is None:
            continue
        score, _ = scores.get(container.mem_id, (0, container))
        scores[container.mem_id] = (score + length, container)
    if not scores:
        return None
    return max(scores.values(), key=lambda item: item[0])[1]


def _siblings(node: LexborNode) -> Iterator[LexborNode]:
    sibling = node.prev
    while sibling is not None:
        yield sibling
        sibling = sibling.prev
    sibling = node.next
    while sibling is not None:
        yield sibling
        sibling = sibling.next


def _protected(node: LexborNode | None) -> set[int]:
    """The main block, its ancestors, and the siblings built like them (by mem_id): never pruned,
    since chrome names and tags can lie (a "has-sidebar" wrapper, an ASP.NET <form> around the
    page, a forum's posts in "comment" boxes). The look-alike siblings matter on forums and
    live blogs: the first post holds the most text, the other posts sit beside it in the same
    markup, under names like "comment".
    """
    protected = set()
    while node is not None:
        protected.add(node.mem_id)
        kind = (node.tag, node.attributes.get("class"))
        if kind[1]:
            protected.update(sibling.mem_id for sibling in _siblings(node)
                             if (sibling.tag, sibling.attributes.get("class")) == kind)
        node = node.parent
    return protected


def _shown_in_turn(main: LexborNode | None) -> set[int]:
    """The main block and its siblings of the same kind (mem_ids): text hidden there is the
    article's own, shown by a script a slide or a tab at a time."""
    if main is None:
        return set()
    kind = (main.tag, (main.attributes.get("class") or "").split()[:1])
    return {main.mem_id} | {sibling.mem_id for sibling in _siblings(main)
                            if (sibling.tag, (sibling.attributes.get("class") or "").split()[:1]) == kind}


def _ancestors(node: LexborNode | None) -> set[int]:
    """node and its ancestors (by mem_id)."""
    chain = set()
    while node is not None:
        chain.add(node.mem_id)
        node = node.parent
    return chain


def _inside(node: LexborNode | None, elements: set[int]) -> bool:
    """Whether node or one of its ancestors is one of elements (by mem_id); html, body, main
    and article do not count."""
    while node is not None:
        if node.mem_id in elements and node.tag not in _NEVER_PRUNE:
            return True
        node = node.parent
    return False


def _form_box(control: LexborNode, protected: set[int]) -> LexborNode:
    """The largest element around a text-entry control that holds little text of its own."""
    box = control
    while (parent := box.parent) is not None and parent.tag not in _NEVER_PRUNE \
            and parent.mem_id not in protected and _text_length(parent) < _FORM_BOX_TEXT \
            and not _prose_before(parent, box):
        box = parent
    return box


def _prose_before(node: LexborNode, box: LexborNode) -> bool:
    """Whether node holds a paragraph of running text before box: a short article that ends
    in a sign-up form is still an article (the notes of a form come after its fields)."""
    for element in node.traverse():
        if element.mem_id == box.mem_id:
            return False
        if element.tag == "p" and _text_length(element) >= _PROSE:
            return True
    return False


def prune(tree: LexborHTMLParser) -> None:
    """Remove from the parsed page everything that is site chrome, in place."""
    # A page hidden whole (<html hidden>, <body style="display:none">) is shown by its script.
    for node in tree.css(_ALWAYS_DROP):
        if node.tag not in _PAGE:
            node.decompose()
    body = tree.body
    if body is None:
        return
    hidden = [node for node in body.css("[style]")
              if node.tag not in _PAGE and _HIDDEN_STYLE.search(node.attributes.get("style") or "")]
    main = _main_block(body, {node.mem_id for node in hidden})
    protected = _protected(main)
    shown_in_turn = _shown_in_turn(main)
    holding_main = _ancestors(main)  # a hidden <main> or <article> around it, shown by a script
    for node in hidden:
        if node.mem_id not in holding_main and not _inside(node, shown_in_turn):
            node.decompose()
    for box in [_form_box(control, protected) for control in body.css(_TEXT_ENTRY)]:
        box.decompose()
    for node in body.css(_CONTROLS):
        node.decompose()
    limit = 0.4 * _text_length(body)

    def removable(node: LexborNode) -> bool:
        return node.mem_id not in protected and _text_length(node) < limit

    for node in body.css(_CHROME_KINDS):
        if removable(node):
            node.decompose()
    for node in body.css("[class], [id]"):
        if node.tag not in _NEVER_PRUNE and _is_chrome_name(node) and removable(node):
            node.decompose()
    _drop_empty(body)


# Kept though they hold no text: table cells keep columns in line, breaks and rules part text,
# images mark the badge and logo boxes that trafilatura tells promotions by, and the JSON-LD
# stays for trafilatura's fallback.
_KEEP_EMPTY = frozenset("html body main article table thead tbody tfoot tr td th br hr img script video audio".split())


def _drop_empty(body: LexborNode) -> None:
    """Remove the elements that hold no text: spacers, icon fonts, the wrappers of removed chrome.

    They are a quarter of a pruned page and trafilatura's passes cost time per element. The
    deepest go first, so a wrapper they leave empty goes too. A block, or an inline element
    with a space in it, leaves a space behind so that the words around it stay apart.
    """
    for node in reversed(body.css("*")):
        if node.tag in _KEEP_EMPTY:
            continue
        spaced = False
        child = node.child
        while child is not None:
            if child.is_text_node:
                if (child.text_content or "").strip():
                    break
                spaced = True
            elif child.tag != "_comment":
                break
            child = child.next
        else:
            if spaced or node.tag not in INLINE:
                node.replace_with(" ")
            else:
                node.decompose()
