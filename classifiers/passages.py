"""Split an article into passages (paragraphs or bullets), keeping the headline apart.

Why: the seeds and most news are mixed (cooperation in one paragraph, sanctions in the next);
the labels live at passage level and an article is their weighted aggregate, with the
headline and lead weighing most (LABELS.md: "the headline or first sentences decide").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]{2,}\S)|\n(?=[-•*] )")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?\s+(?=[\"'“‘(]?[A-Z0-9])")
MAX_PASSAGE_CHARS = 900
MIN_PASSAGE_CHARS = 60
MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class Passage:
    """A span of the article: `start`/`end` are offsets into the full text given to `split`."""

    index: int
    start: int
    end: int
    text: str
    is_title: bool = False


def join_title(text: str, title: str | None) -> str:
    """The text a model reads: the title, a blank line, the body (as in the devset README)."""
    return f"{title.strip()}\n\n{text}" if title and title.strip() else text


def _looks_like_title(chunk: str) -> bool:
    chunk = chunk.strip()
    return 0 < len(chunk) <= MAX_TITLE_CHARS and "\n" not in chunk and not chunk.endswith(".")


def _sentence_chunks(start: int, chunk: str) -> list[tuple[int, int]]:
    """Cut an over-long paragraph at sentence ends into pieces of at most ~MAX chars."""
    spans: list[tuple[int, int]] = []
    piece_start = 0
    last_cut = 0
    for match in _SENTENCE_END.finditer(chunk):
        if match.start() - piece_start > MAX_PASSAGE_CHARS and last_cut > piece_start:
            spans.append((start + piece_start, start + last_cut))
            piece_start = last_cut
        last_cut = match.end()
    if len(chunk) - piece_start > MAX_PASSAGE_CHARS and last_cut > piece_start:
        spans.append((start + piece_start, start + last_cut))
        piece_start = last_cut
    spans.append((start + piece_start, start + len(chunk)))
    return spans


def _raw_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        chunk = text[position:end]
        stripped = chunk.strip()
        if stripped:
            offset = position + chunk.index(stripped)
            spans.extend(_sentence_chunks(offset, stripped))
        position = match.end() if match else len(text)
    return spans


def split(text: str, title: str | None = None) -> list[Passage]:
    """Passages of `join_title(text, title)`; offsets refer to that joined text.

    Without a title, a short first line with no final full stop is taken as the headline.
    Fragments shorter than MIN_PASSAGE_CHARS (captions, datelines) join the next passage.
    """
    full = join_title(text, title)
    spans = _raw_spans(full)
    if not spans:
        return []
    passages: list[Passage] = []
    first_is_title = bool(title and title.strip()) or (
        len(spans) > 1 and _looks_like_title(full[spans[0][0] : spans[0][1]])
    )
    pending: tuple[int, int] | None = None
    for number, (start, end) in enumerate(spans):
        if number == 0 and first_is_title:
            passages.append(Passage(0, start, end, full[start:end], is_title=True))
            continue
        if pending is not None:
            start = pending[0]
            pending = None
        if end - start < MIN_PASSAGE_CHARS and number < len(spans) - 1:
            pending = (start, end)
            continue
        body = full[start:end].replace("\n", " ")  # same length: offsets stay valid
        passages.append(Passage(len(passages), start, end, body))
    return passages
