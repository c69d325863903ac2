"""decode_html on bytes that are almost, but not quite, what they claim to be.

The legacy encodings served over HTTP are tested end to end in test_hardened_fetch.py.
"""

from __future__ import annotations

from scraper.encoding import decode_html
from tests.hostile import CHARSET_CASES

_POLISH = ("Nie możemy pozwolić na wszystkie te zuchwałe manipulacje — mówił ksiądz dyrektor,"
           " a słuchacze odpowiadali oklaskami. ")


def test_utf8_with_a_stray_legacy_byte_stays_utf8() -> None:
    # A UTF-8 page with one pasted windows-1252 dash: detection used to read all of it as a
    # Central European code page and garble every accented letter.
    page = ('<html><head><meta charset="utf-8"></head><body>'
            + "".join(f"<p>{_POLISH}</p>" for _ in range(3)) + "</body></html>").encode()
    stray = page.replace("—".encode(), b"\x96", 1)
    text, encoding = decode_html(stray, "text/html; charset=utf-8")
    assert encoding == "utf-8"
    assert text.count(_POLISH.replace("—", "\ufffd")) == 1 and text.count(_POLISH) == 2


def test_legacy_text_with_a_little_utf8_stays_legacy() -> None:
    # The reverse: a windows-1252 page into which one UTF-8 word was pasted.
    body, content_type, sentence = CHARSET_CASES["cp1252-declared-utf8"]
    mixed = body.replace(b"</article>", "<p>Smørrebrød</p></article>".encode())
    text, encoding = decode_html(mixed, content_type)
    assert encoding != "utf-8"  # detection decides; it reads the sentence right
    assert sentence in text


def test_declared_utf8_with_bad_bytes_is_read_as_utf8() -> None:
    # More bad bytes than a stray one or two, but more valid UTF-8 still: detection used to
    # read it all as a legacy code page, every accented letter garbled.
    sentence = "Grüße aus Köln, sagt der Bäcker an der schönen Straße."
    damaged = f"<meta charset=utf-8><p>{sentence}</p>".encode() + b"<p>\xff\xfe\xc3</p>"
    text, encoding = decode_html(damaged)
    assert encoding == "utf-8"
    assert sentence in text and text.endswith("<p>\ufffd\ufffd\ufffd</p>")


def test_legacy_text_declared_utf8_is_still_detected() -> None:
    sentence = "Grüße aus Köln, sagt der Bäcker an der schönen Straße."
    text, _ = decode_html(f"<meta charset=utf-8><p>{sentence}</p>".encode("cp1252"))
    assert sentence in text
