"""Punctuation that speech recognition wrote out as words ('... four years comma worse standing period').

Dictation software sometimes types the spoken commands instead of the marks. Read as words, they hide
every list and sentence boundary the rules rely on. ``spoken_punctuation`` puts the marks back without
changing the length of the text, so every character offset still points into the note as written:
'comma' becomes ',' and four spaces, 'period' '.' and five, 'colon' ':' and four, 'new paragraph' a
line break and twelve spaces; a level or side taken back ('T8 comma correction comma T7') is blanked
out. Only notes that show the habit are touched: at least two spoken commands
('new paragraph' on its own is enough), so 'a period of six weeks' in an ordinary note stays as it is.
"""

from __future__ import annotations

import re

# a spoken command sits between words; 'period' ends a sentence, so it comes before a capital, a line end
# or another command
_COMMAND = re.compile(r"(?<=\S)(?P<sp> )(?P<w>comma|colon|semicolon)(?= )|"
                      r"(?<=\S)(?P<sp2> )(?P<p>period|full stop)(?!\s+of\b)(?=\s|$)|"
                      r"(?P<np>\bnew paragraph\b)", re.MULTILINE)
# 'a period of', 'the waiting period', 'recovery period': the word itself, not the command
_PERIOD_NOUN_BEFORE = {"a", "the", "this", "that", "each", "one", "two", "same", "waiting", "trial", "recovery",
                       "grace", "refractory", "washout", "observation", "post-procedure", "postoperative", "time"}
_MARKS = {"comma": ",", "colon": ":", "semicolon": ";", "period": ".", "full stop": "."}


_NUM = r"(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_LEVEL_WORD = rf"(?:[CTLS] ?{_NUM}(?:[-/ ](?:[CTLS] ?)?{_NUM})?)"
# 'T8 comma correction comma T7', 'left comma correction comma right': the dictator takes back what came last
_CORRECTION = re.compile(rf"(?P<gone>(?:(?:left|right|bilateral) )?{_LEVEL_WORD}|left|right|bilateral) comma "
                         rf"correction comma (?=\S)", re.IGNORECASE)


def spoken_punctuation(text: str) -> str:
    """The note with dictated punctuation words turned into marks, same length, same offsets; a level or a
    side taken back with 'comma correction comma' is blanked out."""
    if "comma" not in text and "period" not in text and "new paragraph" not in text:
        return text
    text = _CORRECTION.sub(lambda m: " " * len(m.group()), text)
    found = [m for m in _COMMAND.finditer(text)
             if not (m.group("p") and text[:m.start("sp2")].rsplit(None, 1)[-1].lower() in _PERIOD_NOUN_BEFORE)]
    if len(found) < 2 and not any(m.group("np") for m in found):
        return text
    out = []
    pos = 0
    for m in found:
        if m.group("np"):
            start, word, mark = m.start("np"), m.group("np"), "\n"
        elif m.group("w"):
            start, word, mark = m.start("sp"), " " + m.group("w"), _MARKS[m.group("w")]
        else:
            start, word, mark = m.start("sp2"), " " + m.group("p"), _MARKS[m.group("p")]
        out.append(text[pos:start])
        out.append((mark + " " * len(word))[:len(word)])
        pos = start + len(word)
    out.append(text[pos:])
    result = "".join(out)
    assert len(result) == len(text)
    return result
