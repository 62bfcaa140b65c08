"""Which language a question is written in, so the bot's fixed strings can answer in it.

Only four languages matter to the community: English, Arabic, Persian and Sorani Kurdish. The last
three share the Arabic script and are told apart by the letters each alphabet adds or keeps; no
language-identification package on PyPI knows Sorani, and these alphabet facts are all it takes
for a short question. Latin script (or no letters at all) means English: the bot's own default.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "ar", "fa", "ckb"]
LANGUAGES: tuple[Language, ...] = ("en", "ar", "fa", "ckb")

# Letters of Sorani's alphabet that neither Arabic nor Persian writes: ڕ ڵ ێ ۆ ە.
_SORANI_ONLY = frozenset("\u0695\u06b5\u06ce\u06c6\u06d5")
# Persian's own letters and its forms of kaf and yeh (Sorani shares them; it was checked first).
_PERSIAN = frozenset("\u067e\u0686\u0698\u06af\u06a9\u06cc")  # پ چ ژ گ ک ی
# Letters Persian does not use in ordinary writing: taa marbuta, Arabic kaf and yeh, alif maqsura.
_ARABIC_ONLY = frozenset("\u0629\u0643\u064a\u0649")  # ة ك ي ى


def _arabic_script(char: str) -> bool:
    code = ord(char)
    return 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0xFB50 <= code <= 0xFEFF


def question_language(text: str) -> Language:
    """The language of `text`: the script most of its letters are in, then the alphabet's own letters."""
    arabic_letters = [char for char in text if char.isalpha() and _arabic_script(char)]
    other_letters = sum(1 for char in text if char.isalpha() and not _arabic_script(char))
    if not arabic_letters or len(arabic_letters) <= other_letters:
        return "en"
    if any(char in _SORANI_ONLY for char in arabic_letters):
        return "ckb"
    persian = sum(1 for char in arabic_letters if char in _PERSIAN)
    arabic = sum(1 for char in arabic_letters if char in _ARABIC_ONLY)
    return "fa" if persian > arabic else "ar"
