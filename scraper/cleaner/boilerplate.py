"""Lines of extracted text that are site chrome whatever the page: labels, pitches, repeats."""

from __future__ import annotations

import functools
import re
import unicodedata

from lxml import etree

from scraper.cleaner.words import lower_letters, lower_words

# Whole lines that are chrome in any article (compared case- and space-insensitively).
_CHROME_LINES = frozenset(line.strip().casefold() for line in """
    advertisement
    advertisements
    habere yorum kat
    yorum yap
    yorum yaz
    ad
    loading
    loading...
    wird geladen
    cargando
    chargement
    view comments
    show comments
    kommentare anzeigen
    bild anzeigen
    beitragsbild
    schon gelesen?
    zum weiterlesen
    anzeige
    werbung
    publicité
    publicidad
    pubblicità
    reklama
    реклама
    share
    share this
    share this article
    share this story
    share on facebook
    share on twitter
    tweet
    read more
    read more:-
    read the full article here
    continue reading
    leave a reply
    leave a comment
    post a comment
    cancel reply
    related articles
    related posts
    related stories
    you might also like
    you may also like
    recommended
    most read
    most popular
    sign up
    subscribe
    subscribe now
    follow us
    print
    email
    comments
    skip to content
    skip to main content
    back to top
    nach oben
    retour en haut
    volver arriba
    table of contents
    contents
    inhaltsverzeichnis
    inhalt
    sommaire
    índice
    indice
    spis treści
    lesen sie auch
    weiterlesen
    mehr zum thema
    lire aussi
    lire la suite
    leer más
    leggi anche
    czytaj także
    czytaj też
    читайте также
""".strip().splitlines())


# The patterns of is_boilerplate are written in lower case and matched against the lower-cased
# line: Python's re is several times slower with re.IGNORECASE on Unicode text.

# Labels that introduce a link to another article inside a body ("Read more: <headline>").
_TEASER_LABELS = """
    read more|read also|also read|see also|related|more on this|recommended|watch|listen
    lea también|lea más|lea además|lee también|lea|mire|mira|vea también|vea|ver también|puedes ver
    le puede interesar|te puede interesar|también te puede interesar|le recomendamos|relacionado
    lesen sie auch|lesen sie mehr|lesen sie hier|mehr dazu|mehr zum thema|auch interessant|siehe auch
    à lire aussi|a lire aussi|lire aussi|voir aussi|sur le même sujet|leggi anche|leggi pure|vedi anche
    czytaj także|czytaj też|czytaj więcej|zobacz też|zobacz także|читайте также|смотрите также
    leia também|veja também|lees ook|bekijk ook|läs också|læs også|les også
    auch lesen|mehr lesen|weitere artikel|das könnte dich auch interessieren|das könnte sie auch interessieren
    das thema könnte dich auch interessieren|you may also like|you might also like|more stories
"""
_TEASER = re.compile(
    r"^\W*(" + "|".join(
        re.escape(label.strip()) for line in _TEASER_LABELS.strip().splitlines()
        for label in line.split("|")
    ) + r")\s*[:：»>|–-]",
)
_TEASER_MAX_WORDS = 30

# A pitch asks the reader to act (sign up, subscribe, follow, download, receive) and names the
# channel it is for (a newsletter, e-mail, the latest updates, a social account), in one short
# line: "Sign up for our newsletter", "Follow us on Twitter", "Receive free policy updates".
# Either alone, and free offers, trials and discounts with them, is the stuff of articles on
# marketing, apps and services.
_Families = tuple[tuple[frozenset[str], re.Pattern[str]], ...]


def _families(*families: tuple[str, str]) -> _Families:
    return tuple((frozenset(words.split()), re.compile(pattern)) for words, pattern in families)


_PITCH_CALLS = _families(
    ("sign signup signing signingup subscribe subscribes subscribed subscriber subscribers subscription "
     "register join member membership suscríbete suscribete suscríbase suscribase suscribirse suscripción "
     "suscripcion hazte abonnez abonnieren abonnement abo anmelden registrieren inscrivez inscribete",
     r"\b(sign(ing)? ?up|subscribe[sd]?|subscribers?|subscription|register|join|member(ship)?|"
     r"suscr[íi]be(te|se)|suscribirse|suscripci[óo]n|hazte|abonn(ez|ieren|ement)|abo|anmelden|registrieren|"
     r"inscri(vez|bete))\b"),
    ("follow like", r"\b(follow|like) (us|[\w.]+( [\w.]+)?) on\b"),
    ("watch listen download click tap", r"\b(watch|listen|download|click|tap)\b"),
    ("receive receiving send sent delivered", r"\b(receive|receiving|(send|sent|delivered) (to )?you)\b"),
)
_PITCH_CHANNELS = _families(
    ("newsletter newsletters digest briefing bulletin paper epaper edition",
     r"\b(newsletters?|digest|briefing|bulletin|e-?paper|edition)\b"),
    ("mail email inbox whatsapp telegram", r"\b(e-?mail|inbox|whatsapp|telegram)\b"),
    ("updates alerts breaking latest", r"\b(updates|alerts|breaking news|latest (news|stories))\b"),
    ("twitter facebook instagram youtube tiktok linkedin", r"\b(twitter|facebook|instagram|youtube|tiktok|linkedin)\b"),
)
"""Each family: words of which any match of its pattern holds one whole (a run of letters of the
line), and the pattern. A line's patterns are searched only for the families whose words it
has: most lines have none, and a set lookup costs a fraction of a search."""
_PITCH_MAX_WORDS = 40
# Rights notices: a short line that claims copyright or forbids copying. The bare word only in
# a very short line ("Imprint | Copyright Jane Doe"): prose may be about copyright.
_RIGHTS = re.compile(
    r"©|^\W*copyright\b|\bcopyright\s*(\(c\)|\d{4})|all rights reserved|alle rechte vorbehalten|"
    r"todos los derechos reservados|tous droits réservés|tutti i diritti riservati|wszelkie prawa zastrzeżone|"
    r"written permission|without (prior )?permission",
)
_RIGHTS_MAX_WORDS = 50
_COPYRIGHT = re.compile(r"\bcopyright(ed)?\b")
_COPYRIGHT_MAX_WORDS = 15
# Sentences of cookie banners, comment forms and paywalls, in a short line. Every alternative
# starts with a letter, so that the search skips ahead to the letters that can begin one.
_NOTICE = re.compile(
    r"by (using|continuing to (use|browse)) (this|our) (site|website)|you agree to (our|the) (use of cookies|"
    r"privacy policy|terms)|we use cookies|this (site|website) uses cookies|"
    r"your email address will not be published|required fields are marked|"
    r"ihre e-mail-adresse wird nicht veröffentlicht|erforderliche felder sind mit|pflichtfelder sind mit|"
    r"votre adresse (e-)?mail ne sera pas publiée|les champs obligatoires sont indiqués|"
    r"tu dirección de correo electrónico no será publicada|los campos obligatorios están marcados|"
    r"il tuo indirizzo email non sarà pubblicato|i campi obbligatori sono contrassegnati|"
    r"twój adres e-mail nie zostanie opublikowany|"
    r"to continue reading|subscribe to (continue|read)|already a subscriber|why you can trust|"
    r"comments? (are|is|will be) (moderated|reviewed|checked)|comment moderation|"
    r"kommentare werden (vor|erst|moderiert|geprüft|freigeschaltet)|kommentare sind moderiert|"
    r"les commentaires sont (modérés|soumis)|modération des commentaires|"
    r"comentarios (son|están|serán)? ?moderados|i commenti sono moderati|commenti moderati|"
    r"komentarze są moderowane|reacties worden gemodereerd|os comentários (são|serão) moderados|"
    r"(to (view|read)|for) the (full|whole|rest of the) (story|article)|"
    r"um weiterzulesen|weiterlesen mit|pour lire la suite|pour continuer à lire",
)
_NOTICE_MAX_WORDS = 40
# Links back up or out of the article ("Back to the newsroom", "Zurück zur Listenansicht"): the
# way back and a place of the site's own, so that a heading such as "Back to basics" stays.
_BACK_TO = re.compile(
    r"^\W*(back to|return to|go back to|zurück (zu[mr]?|nach|zur)|retour (à|au|aux|vers)|volver (a|al)|"
    r"regresar (a|al)|torna (a|al|alla)|powrót do|terug naar|tillbaka till)"
    r"( the| all| den| die| der| la| le| les| l'| el| los| las| la| il| i| de)?\s*"
    r"(top|oben|anfang|seitenanfang|start|startseite|home|homepage|übersicht|overview|list|liste|listenansicht|"
    r"index|newsroom|news|nachrichten|blog|articles?|artikel|search|suche|results|ergebnisse|menu|menü|"
    r"haut|accueil|sommaire|inicio|portada|arriba|noticias|su|inizio|elenco|góry|strony|listy|overzicht|boven)\b",
)
_BACK_TO_MAX_WORDS = 6
# Disclosures of advertising and affiliate links, which pages print above or below the text.
_DISCLOSURE = re.compile(
    r"affiliate[- ]?links?|partner-?links|provisions-?links|enthält (unbezahlte |bezahlte )?(werbung|anzeigen)|"
    r"contains (affiliate|sponsored|references to products)|we (may )?(earn|receive) (a )?(small )?commission|"
    r"advertisers do not|sponsored (post|content)|liens (affiliés|sponsorisés)|contenu sponsorisé|"
    r"enlaces de afiliados|link di affiliazione|linki afiliacyjne",
)
_DISCLOSURE_MAX_WORDS = 40
# Credits of the pictures, which text extraction leaves without their pictures.
_CREDIT = re.compile(
    r"^\W*(titelbild|beitragsbild|headerbild|aufmacherbild|vorschaubild|bildquelle|bildnachweis|fotonachweis|"
    r"fotos?|bild(er)?|photos?|photo credits?|image credits?|credits?|credits? photos?|crédits? photos?|"
    r"image illustrative|featured image|header image|cover image|foto de portada|zdjęcie)\s*[:：©]",
)
_CREDIT_MAX_WORDS = 20
# A caption that ends with its picture's credit ("... white paper. File photo: AFP").
_CAPTION_CREDIT = re.compile(
    r"\b(file )?(photo|photos|picture|image|foto|fotos|bild|photographie|imagen|immagine|zdjęcie)"
    r"( credit| courtesy)?\s*[:：©/]\s*[^.:;!?]{1,60}$")
_CAPTION_MAX_WORDS = 45


def without_credit(text: str) -> str:
    """A caption without the picture's credit at its end."""
    return re.sub(_CAPTION_CREDIT.pattern, "", text, flags=re.IGNORECASE).strip()


def _is_pitch(line: str, words: set[str]) -> bool:
    """Whether line, whose runs of letters are `words`, uses a family of _PITCH_CALLS and one of
    _PITCH_CHANNELS."""
    return _uses(line, words, _PITCH_CALLS) and _uses(line, words, _PITCH_CHANNELS)


def _uses(line: str, words: set[str], families: _Families) -> bool:
    return any(not family.isdisjoint(words) and pattern.search(line) for family, pattern in families)


def line_key(line: str) -> str:
    """The comparison key of a line: NFKC, folded case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", line).split()).casefold()


# Patterns of chrome in a line of at most so many words (those that must start the line say so
# with "^"), each with the strings one of which any match holds (or None): a line holding none
# is not searched, and most lines hold none.
_SHORT_LINE_RULES: tuple[tuple[re.Pattern[str], int, tuple[str, ...] | None], ...] = (
    (_TEASER, _TEASER_MAX_WORDS, None),
    (_RIGHTS, _RIGHTS_MAX_WORDS,
     ("©", "copyright", "rights", "rechte", "derechos", "droits", "diritti", "prawa", "permission")),
    (_COPYRIGHT, _COPYRIGHT_MAX_WORDS, ("copyright",)),
    (_NOTICE, _NOTICE_MAX_WORDS,
     ("using", "contin", "agree", "cookies", "address", "adres", "fields", "felder", "champs", "correo", "camp",
      "indirizzo", "subscribe", "trust", "comment", "kommentare", "coment", "komentarze", "gemodereerd", "weiter",
      "suite", "the full", "the whole", "rest of the")),
    (_BACK_TO, _BACK_TO_MAX_WORDS, None),
    (_DISCLOSURE, _DISCLOSURE_MAX_WORDS,
     ("affiliate", "partner", "provisions", "enthält", "contains", "commission", "advertisers", "sponsored", "liens",
      "sponsoris", "afiliados", "affiliazione", "afiliacyjne")),
    (_CREDIT, _CREDIT_MAX_WORDS, None),
    (_CAPTION_CREDIT, _CAPTION_MAX_WORDS, ("photo", "picture", "image", "foto", "bild", "immagine", "zdjęcie")),
)
_SCREENED_RULES = tuple((pattern, most, re.compile("|".join(map(re.escape, needles))) if needles else None)
                        for pattern, most, needles in _SHORT_LINE_RULES)
"""The rules with their strings as one pattern each: one search says whether a line holds any
(a sixth less time than asking for each string in turn, on the corpus's lines)."""
_CHROME_LINE_WORDS = max(len(line.split()) for line in _CHROME_LINES)
_LONGEST_RULE = max(_PITCH_MAX_WORDS, *(most for _, most, _ in _SHORT_LINE_RULES))


def is_boilerplate(line: str, key: str | None = None) -> bool:
    """Whether line, of comparison key line_key(line) (worked out here when not given), is
    chrome: a stock phrase or a short pitch, teaser, rights line or notice."""
    words = len(line.split())
    if words > _LONGEST_RULE:
        return False  # article paragraphs are long; every rule here is about short lines
    # The key has no fewer words than the line (NFKC keeps every space a space): a line of more
    # words than the longest stock phrase needs no key.
    if words <= _CHROME_LINE_WORDS and (line_key(line) if key is None else key).rstrip(":") in _CHROME_LINES:
        return True
    lower = line.lower()
    if words <= _PITCH_MAX_WORDS and _is_pitch(lower, set(lower_letters(line))):
        return True
    for pattern, most, screen in _SCREENED_RULES:
        if words <= most and (screen is None or screen.search(lower)) and pattern.search(lower):
            return True
    return False


# Bylines and datelines: the author, when, how long to read; metadata, not text.
_DATELINE_SIGNALS = frozenset(
    "updated update published posted modified reading yesterday today ago aktualisiert veröffentlicht "
    "lesezeit gestern heute mis publié actualizado publicado ayer hoy aggiornato pubblicato ieri oggi".split())
_DATELINE_WORDS = _DATELINE_SIGNALS | frozenset(
    "by von par por di door av af in at on am pm um le el il the of last time read min mins minute minutes "
    "hour hours day days week weeks and und et y e".split())
_MONTHS = frozenset(
    "january february march april may june july august september october november december jan feb mar apr "
    "jun jul aug sep sept oct nov dec januar februar märz mai juni juli oktober dezember janvier février mars "
    "avril juin juillet août septembre octobre novembre décembre enero febrero marzo abril mayo junio julio "
    "agosto septiembre octubre noviembre diciembre".split())
_DATE_TOKEN = re.compile(r"^\d{1,4}([/.:-]\d{1,4})+$|^\d{1,2}(am|pm|h|st|nd|rd|th)$")
_NUMBER = re.compile(r"^\d+$")
_DATELINE_MAX_WORDS = 12


@functools.lru_cache(maxsize=64)  # a page's authors, asked about line after line
def _name_words(authors: tuple[str, ...]) -> frozenset[str]:
    return frozenset(word for author in authors for word in lower_words(author))


def is_dateline(line: str, authors: tuple[str, ...] = ()) -> bool:
    """A byline or dateline such as "Kana Inagaki in Tokyo YESTERDAY", "Last updated: 2023/07/27
    at 11:39 PM" or "Reading time: 4 minutes": at most two words left once the authors' names,
    dates, times and the words around them are taken out, and one of them there."""
    words = lower_words(line)
    if not words or len(words) > _DATELINE_MAX_WORDS:
        return False
    names = _name_words(authors)
    signal = any(w in names or w in _DATELINE_SIGNALS or _DATE_TOKEN.match(w) for w in words) or (
        any(w in _MONTHS for w in words) and any(_NUMBER.match(w) for w in words))
    if not signal:
        return False
    rest = [w for w in words if w not in names and w not in _DATELINE_WORDS and w not in _MONTHS
            and not _DATE_TOKEN.match(w) and not _NUMBER.match(w)]
    named = any(w in names for w in words)
    return len(rest) <= (2 if named else 1) and len(rest) * 2 < len(words)


# Blocks of trafilatura's output tree that are judged one by one.
_BLOCKS = ("p", "head", "item", "quote")
_REPEAT_MAX = 200
"""A block seen before is dropped when shorter than this: a caption or teaser shown twice."""
_LONG_BLOCK = 1000
"""Characters past which a block is article text: no rule here is about blocks this long."""


def _innermost_blocks(body: etree._Element) -> list[etree._Element]:
    """Every paragraph, heading and item, and the quotes holding none of those: a quote of
    paragraphs is judged by its paragraphs."""
    return [block for block in body.iter(*_BLOCKS)
            if block.tag != "quote" or next(block.iter(*_BLOCKS[:-1]), None) is None]


def _block_text(block: etree._Element) -> str:
    return str(etree.tostring(block, method="text", encoding=str, with_tail=False))


# Labels of the page's own record of an article ("Category: News", "Last updated: ..."),
# which pages print just above or below the text.
_RECORD_LABELS = re.compile(
    r"^\W*(categor(y|ies|ía|ia|ie)|kategorie[n]?|kategoria|tags?|tagged|tagi|schlagw(ö|o)rte?r?|"
    r"étiquettes|etiquetas|filed under|posted (in|on|by)|published( on)?|updated|last (updated|modified)|"
    r"release date|veröffentlicht( am)?|aktualisiert( am)?|publié le|mis à jour|publicado|actualizado|"
    r"pubblicato|aggiornato|opublikowano|zaktualizowano)\s*[:：]", re.I,
)
_TIME_ONLY = re.compile(
    r"^\W*(\d{1,2}[:.]\d{2}\s*(am|pm|uhr|h)?|\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?(,? \d{4})?)\W*$", re.I,
)
_LABEL_ONLY = re.compile(r"^\W*\w+(\s+\w+){0,3}\s*:\s*$")
"""A label with nothing after it ("Kontakt:", "Weitere Informationen:") ending the text."""
_RECORD_MAX_WORDS = 8
_EDGE = 3
"""How many blocks at each end of the text are looked at for record lines."""


def _is_record_line(line: str) -> bool:
    return len(line.split()) <= _RECORD_MAX_WORDS and bool(
        _RECORD_LABELS.match(line) or _TIME_ONLY.match(line)
    )


def _drop_record_lines(body: etree._Element) -> None:
    blocks = _innermost_blocks(body)
    head, tail = (blocks[:_EDGE], blocks[-_EDGE:]) if len(blocks) > 2 * _EDGE else (blocks, blocks)
    for block in dict.fromkeys([*head, *tail]):  # document order: removals move tails, order matters
        text = " ".join(_block_text(block).split())
        if block.getparent() is not None and (
            _is_record_line(text) or (block in tail and _LABEL_ONLY.match(text))
        ):
            _remove_keeping_tail(block)


_HEADING_MAX_WORDS = 8
"""Words of a heading or label at most."""

# Headings of a box of links to more of the site ("Related articles", "Mehr zum Thema", "Weitere
# Beiträge aus der Kolumne:", "Auch auf example.com"), which pages set below or inside the text.
_RELATED_HEADING = re.compile(
    r"^\W*(related|recommended|more (from|on|in|about|stories|articles|news)|further reading|"
    r"you (may|might) also|also on|other (articles|stories|posts|news)|read next|up next|explore more|"
    r"discover more|latest (news|stories|articles|posts)|"
    r"weitere|mehr (zum|zu|aus|von|auf|über|themen|artikel|beiträge|news)|empfohlene|ähnliche|verwandte|"
    r"auch auf|auch interessant|lesen sie auch|entdecke|das könnte|beliebte|meistgelesen|passende|"
    r"andere (artikel|beiträge|themen)|"
    r"contenido relacionado|relacionad[oa]s?|más (sobre|de|noticias|información)|otras noticias|"
    r"te puede interesar|lo más|últimas noticias|à lire aussi|sur le même sujet|autres articles|"
    r"articles similaires|à découvrir|leggi anche|altri articoli|articoli correlati|czytaj (także|też)|"
    r"zobacz (też|także)|więcej|powiązane|polecane|leia também|veja também|mais (lidas|notícias)|"
    r"notícias relacionadas)\b",
)
# ... but a list of sources or references is the article's own.
_SOURCES = re.compile(r"quellen|sources?|referen|literatur|fuentes|bibliogra|źródła")
_RELATED_ITEM_MAX_WORDS = 20
_RELATED_ITEM_LINKED = 0.8


def _is_related_heading(text: str) -> bool:
    lower = text.lower()
    return (0 < len(text.split()) <= _HEADING_MAX_WORDS and not text.endswith((".", "!", "?", '"', "”"))
            and _RELATED_HEADING.match(lower) is not None and _SOURCES.search(lower) is None)


def _is_related_item(block: etree._Element, text: str) -> bool:
    """A teaser of a box of links: a link, or a headline (a few words, no full stop)."""
    if len(text.split()) <= _RELATED_ITEM_MAX_WORDS and not text.endswith((".", "!", "?")):
        return True
    linked = sum(len(" ".join(_block_text(link).split())) for link in block.iter("ref"))
    return linked >= _RELATED_ITEM_LINKED * len(text)


def _drop_related_boxes(blocks: list[tuple[etree._Element, str]]) -> set[etree._Element]:
    """Remove each heading of related links with the teasers that follow it (a heading followed
    by prose is a section of the article); blocks are the body's, each with its text. Returns
    the blocks removed."""
    removed: set[etree._Element] = set()
    for position, (block, text) in enumerate(blocks):
        if block in removed or not _is_related_heading(text):
            continue
        teasers = []
        for teaser, teaser_text in blocks[position + 1:]:
            if not _is_related_item(teaser, teaser_text):
                break
            teasers.append(teaser)
        if teasers:
            for element in (block, *teasers):
                _remove_keeping_tail(element)
                removed.add(element)
    return removed


def drop_boilerplate(body: etree._Element) -> None:
    """Remove boilerplate blocks and short repeated blocks from an extracted body, in place."""
    blocks = [(block, " ".join(_block_text(block).split())) for block in _innermost_blocks(body)]
    removed = _drop_related_boxes(blocks)
    seen: set[str] = set()
    for block, text in blocks:
        if block in removed or any(ancestor in removed for ancestor in block.iterancestors()):
            continue
        if len(text) > _LONG_BLOCK:
            continue
        key = line_key(text)
        if not key or (key in seen and len(key) < _REPEAT_MAX):
            _remove_keeping_tail(block)
            removed.add(block)
        elif is_boilerplate(text, key):
            # A pitch box's heading ("Your guide to a disrupted world") goes with its pitch.
            previous = block.getprevious()
            if previous is not None and previous not in removed and _is_caption_like(previous):
                _remove_keeping_tail(previous)
                removed.add(previous)
            _remove_keeping_tail(block)
            removed.add(block)
        seen.add(key)
    _drop_record_lines(body)


def _is_caption_like(block: etree._Element) -> bool:
    """A few words with no closing punctuation: a heading or label, not a sentence."""
    if block.tag not in _BLOCKS or (block.tail and block.tail.strip()):
        return False
    text = " ".join(_block_text(block).split())
    return 0 < len(text.split()) <= _HEADING_MAX_WORDS and not text.endswith((".", "!", "?", ":", "…", '"', "”"))


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail and element.tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
