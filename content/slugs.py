"""Slugs for posts with Russian titles: transliterated to ASCII so addresses stay readable
when copied anywhere. (Unicode slugs typed by hand still work: the URL accepts them.)"""
from django.utils.text import slugify

# Transliteration of the Russian alphabet (close to the passport/ICAO scheme, readable).
RUSSIAN_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia",
}
FALLBACK = "post"


def transliterate(text):
    return "".join(RUSSIAN_TO_LATIN.get(char, char) for char in text.lower())


def slug_from_title(title, max_length=200):
    return slugify(transliterate(title))[:max_length].strip("-") or FALLBACK


def unique_slug(title, taken, max_length=200):
    """A slug for ``title`` that ``taken(slug)`` says is free: base, base-2, base-3..."""
    base = slug_from_title(title, max_length - 6)
    slug, number = base, 1
    while taken(slug):
        number += 1
        slug = f"{base}-{number}"
    return slug
