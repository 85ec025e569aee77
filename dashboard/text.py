"""Comparing names people typed (or a scanner read) with catalogue names.

The rule, precisely: two names match when they are equal after
1. case folding (`str.casefold`: "AMOXICILINA" = "amoxicilina", "ß" = "ss");
2. Unicode compatibility decomposition (NFKD) and dropping every combining mark, so accents and
   other diacritics go ("Ácido" = "Acido", "ñ" = "n") and compatibility forms fold ("ﬁ" = "fi",
   a non-breaking space is a space);
3. collapsing every run of whitespace into one space and trimming both ends;
4. dropping the space between a number and the unit that follows it, since scanners split
   "500mg" as "500 mg" as often as not ("Amoxicilina 500 mg" = "Amoxicilina 500mg").

Nothing else is ignored: other words must be split in the same places and punctuation must
agree, so "Amoxicilina500mg", "Amoxicilina 250mg" and "Amoxicilina 500mg." do NOT match.
"""
from __future__ import annotations

import re
import unicodedata

_NUMBER_THEN_UNIT = re.compile(r"(\d) (?=[^\W\d])")


def name_key(text: str) -> str:
    """The comparable form of a name (see the module docstring for the rule)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NUMBER_THEN_UNIT.sub(r"\1", " ".join(without_marks.split()))


def names_match(first: str, second: str) -> bool:
    """Whether two names are the same ignoring case, accents and repeated or edge spaces."""
    return name_key(first) == name_key(second)
