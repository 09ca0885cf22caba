import pytest

from lib.sanitize import sanitize_html


@pytest.mark.parametrize(
    "dirty,forbidden",
    [
        ("<p>hi</p><script>alert(1)</script>", "alert"),
        ('<img src="x.png" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<p style="position:fixed;top:0">x</p>', "position"),
        ("<iframe src='https://evil'></iframe>", "iframe"),
        ("<style>body{display:none}</style>", "display"),
    ],
)
def test_it_removes_what_could_run_or_hide_content(dirty, forbidden):
    assert forbidden not in sanitize_html(dirty)


def test_it_keeps_what_the_editor_produces():
    html = (
        '<h2>Title</h2><p style="text-align:center"><strong>Hello</strong> {{ full_name }}</p>'
        '<figure class="image"><img src="/media/uploads/a.png" alt="a"></figure>'
        '<ul><li>one</li></ul><a href="https://example.com">link</a>'
    )
    clean = sanitize_html(html)
    for kept in ("<h2>", "text-align:center", "{{ full_name }}", 'class="image"', "/media/uploads/a.png",
                 "<li>one</li>", 'href="https://example.com"'):
        assert kept in clean


def test_it_returns_an_empty_string_for_nothing():
    assert sanitize_html("") == ""
