from content.slugs import slug_from_title, transliterate, unique_slug


def test_it_transliterates_russian():
    assert transliterate("Щука и ёжик") == "shchuka i ezhik"


def test_it_keeps_latin_and_digits():
    assert slug_from_title("Django 5.2 и Redis") == "django-52-i-redis"


def test_it_finds_the_next_free_slug():
    taken = {"novosti", "novosti-2"}
    assert unique_slug("Новости", taken.__contains__) == "novosti-3"


def test_it_respects_the_length_limit():
    assert len(unique_slug("а" * 500, lambda slug: False, max_length=50)) <= 50
