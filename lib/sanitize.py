"""Sanitising of rich-text HTML (message bodies, blog posts) before it is stored.

CKEditor 5 produces a small, known set of tags; anything else (scripts, event handlers,
``javascript:`` links, foreign styles) is removed, so stored HTML can be rendered as is in
e-mails and pages. Placeholders such as ``{{ full_name }}`` are plain text and survive.
"""
import html as html_module
import re

import nh3

# What the CKEditor 5 toolbar of settings.CKEDITOR_5_CONFIGS can produce, and no more.
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "caption", "code", "div", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title", "target"},
    "img": {"src", "alt", "title", "width", "height", "style"},
    "figure": {"style"},
    "p": {"style"},
    "span": {"style"},
    "td": {"colspan", "rowspan", "style"},
    "th": {"colspan", "rowspan", "scope", "style"},
    "ol": {"start", "reversed"},
}
# Image resizing and text alignment from the editor; nothing that can load or hide content.
ALLOWED_STYLES = {"width", "height", "text-align", "aspect-ratio", "float", "color", "background-color"}
URL_SCHEMES = {"http", "https", "mailto", "tel"}
# Their content is dropped with the tag, not kept as text.
DROP_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math"}


def sanitize_html(html: str) -> str:
    """Return ``html`` with only harmless tags, attributes, styles and URL schemes left."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        filter_style_properties=ALLOWED_STYLES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# An image with a source left after sanitising shows something without any text.
IMAGE_WITH_SOURCE = re.compile(r"<img\b[^>]*\ssrc=")
# Characters a reader cannot see: str.isspace() misses the zero-width ones.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def has_visible_content(html: str) -> bool:
    """Whether ``html`` shows anything once sanitised: some visible text, or an image.

    Editors submit "empty" documents such as ``<p>&nbsp;</p>`` or ``<p><br></p>``; whitespace,
    non-breaking spaces, empty paragraphs and line breaks are not content.
    """
    clean = sanitize_html(html)
    if IMAGE_WITH_SOURCE.search(clean):
        return True
    text = html_module.unescape(nh3.clean(clean, tags=set()))
    return any(not char.isspace() and char not in INVISIBLE for char in text)


# Where a block of text ends: removing the tag alone would glue "рассылки.Спрашивайте".
BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr|td|th|blockquote|figcaption|pre)>")


def text_of(html: str) -> str:
    """The visible text of ``html`` on one line: blocks separated by a space, entities decoded."""
    text = nh3.clean(BLOCK_END.sub(" ", html or ""), tags=set(), clean_content_tags=DROP_WITH_CONTENT)
    return " ".join(html_module.unescape(text).split())
