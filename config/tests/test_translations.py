"""The Russian catalog is complete, and pages speak Russian by default and English on request.

The .po file is read with a few lines of plain Python (polib is not a project dependency):
an entry is untranslated when its msgstr (or one of its plural forms) is empty, and
"#, fuzzy" entries are ignored by gettext, so both count as missing.
"""
import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

PO_FILE = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")


def po_entries(path):
    """Each entry as a dict: flags, msgctxt, msgid, msgid_plural, msgstr, msgstr[N]."""
    entries, entry, key = [], {"flags": set()}, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if not line:
            if "msgid" in entry:
                entries.append(entry)
            entry, key = {"flags": set()}, None
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            entry[key] = ast.literal_eval(value)
    return entries


def translations(entry):
    if "msgid_plural" in entry:
        return [value for key, value in entry.items() if key.startswith("msgstr[")]
    return [entry["msgstr"]]


def test_the_po_parser_sees_fuzzy_and_empty_entries(tmp_path):
    sample = tmp_path / "sample.po"
    sample.write_text(
        'msgid ""\nmsgstr ""\n"Language: ru\\n"\n\n'
        '#, fuzzy, python-format\nmsgid "a %(n)s"\nmsgstr "б %(n)s"\n\n'
        'msgid "one"\nmsgid_plural "many"\nmsgstr[0] "одна"\nmsgstr[1] ""\nmsgstr[2] "много"\n\n'
        'msgctxt "period"\nmsgid "To"\nmsgstr ""\n"По"\n',
        encoding="utf-8",
    )
    header, fuzzy, plural, with_context = po_entries(sample)
    assert header["msgstr"] == "Language: ru\n"
    assert "fuzzy" in fuzzy["flags"]
    assert translations(plural) == ["одна", "", "много"]
    assert with_context["msgctxt"] == "period" and translations(with_context) == ["По"]


def test_every_russian_entry_is_translated_and_none_is_fuzzy():
    entries = [entry for entry in po_entries(PO_FILE) if entry["msgid"]]
    assert len(entries) > 300
    fuzzy = [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]]
    untranslated = [entry["msgid"] for entry in entries if not all(translations(entry))]
    assert fuzzy == []
    assert untranslated == []


def test_the_russian_catalog_has_three_plural_forms_and_is_compiled():
    header = next(entry for entry in po_entries(PO_FILE) if entry["msgid"] == "")
    assert "nplurals=3;" in header["msgstr"]
    plurals = [entry for entry in po_entries(PO_FILE) if "msgid_plural" in entry]
    assert plurals and all(len(translations(entry)) == 3 for entry in plurals)


def test_the_compiled_catalog_matches_the_po_file():
    """compilemessages ran after the last edit: the .mo gives every translation of the .po.

    (Compared by content: git does not keep file times, so a clone cannot tell by mtime.)
    """
    import gettext

    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in po_entries(PO_FILE):
        if not entry["msgid"] or "fuzzy" in entry["flags"]:
            continue
        if "msgid_plural" in entry:
            got = [compiled.ngettext(entry["msgid"], entry["msgid_plural"], n) for n in (1, 2, 5)]
            wanted = [entry["msgstr[0]"], entry["msgstr[1]"], entry["msgstr[2]"]]
        elif "msgctxt" in entry:
            got, wanted = compiled.pgettext(entry["msgctxt"], entry["msgid"]), entry["msgstr"]
        else:
            got, wanted = compiled.gettext(entry["msgid"]), entry["msgstr"]
        if got != wanted:
            stale.append(entry["msgid"])
    assert stale == []


# --- Pages --------------------------------------------------------------------------------

PAGES = {
    # page: (words only the Russian page shows, words only the English page shows)
    "admin:login": (["Войти", "Сервис рассылок"], ["Log in", "Mailing back office"]),
    "home": (["Главная", "Сервис в цифрах", "Зарегистрироваться"], ["Home", "Service in figures", "Sign up"]),
}


def page_text(client, name, **headers):
    response = client.get(reverse(name), **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_are_in_russian_by_default(client, name):
    russian, english = PAGES[name]
    text = page_text(client, name)
    assert 'lang="ru"' in text
    for word in russian:
        assert word in text
    for word in english:
        assert word not in text


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_pages_are_in_english_when_the_browser_asks_for_it(client, name):
    russian, english = PAGES[name]
    page_text(client, name)  # a Russian rendering first: nothing of it may be reused
    text = page_text(client, name, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert 'lang="en"' in text
    for word in english:
        assert word in text
    for word in russian:
        assert word not in text


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
def test_the_language_cookie_wins_over_the_browser(client, name):
    russian, english = PAGES[name]
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    text = page_text(client, name, HTTP_ACCEPT_LANGUAGE="ru")
    assert all(word in text for word in english)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    text = page_text(client, name, HTTP_ACCEPT_LANGUAGE="en")
    assert all(word in text for word in russian)
