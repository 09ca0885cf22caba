"""Every admin page and message reads as grammatical Russian (issue #13, item 9).

Walks, as a superuser in Russian, every registered model's changelist, add form, change form
and delete confirmation, then the success messages of add, change, delete and bulk delete,
and fails on a known ungrammatical pattern. Django builds these texts from the nominative
``verbose_name``; config/admin_grammar.py gives the cases.
"""
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import strip_tags

from content.models import Post
from mailings.models import Client, Mailing, Message

pytestmark = pytest.mark.django_db

NOMINATIVE_SINGULAR = (
    r"(клиент|рассылка|попытка|доставка|статья|пользователь|группа|запланированная|"
    r"успешная|неудачная|задача|ошибка)"
)
MONTHS = "январ|феврал|март|апрел|ма[йя]|июн|июл|август|сентябр|октябр|ноябр|декабр"
# Known ungrammatical patterns, each with the example it catches:
UNGRAMMATICAL = [
    # a verb followed by a noun in the nominative: "Удалить рассылка", "Выберите клиент для изменения"
    rf"\b(Удалить|Добавить|Изменить|Просмотреть|Выберите|удалить) {NOMINATIVE_SINGULAR}\b",
    # "Удалить выбранные клиенты": people take the genitive form ("выбранных клиентов")
    r"выбранные (клиенты|пользователи)\b",
    # a count with the wrong plural form: "7 клиенты", "1 клиентов", "3 рассылок"
    r"\b([5-9]|1[0-9]|0) (клиенты?|сообщения|сообщение|рассылк[аи]|пользовател[иья]|групп[аы]|стать[ия] блога)\b",
    r"\b1 (клиента|клиентов|сообщений|рассылок|пользователей|групп|статей)\b",
    r"\b[2-4] (клиентов|клиенты|сообщений|рассылок|рассылка|пользователей|пользователи|групп|статей)\b",
    # a masculine past participle after a feminine noun: "рассылка «…» был успешно добавлен"
    r"(рассылка|статья блога|группа)\s+\S.*?\bбыл (успешно )?(добавлен|изменен|удален)\b",
    r"\bбыл успешно (добавлен|изменен|удален)\b",
    # a month in the nominative or capitalised after a day number: "27 Ноябрь", "27 ноябрь"
    rf"\b\d{{1,2}} ((?i:{MONTHS})[а-яё]*)\b(?<!я)(?<!а)",
    rf"\b\d{{1,2}} [А-Я](?i:{MONTHS})",
]


def ungrammatical(text):
    return [match.group(0) for pattern in UNGRAMMATICAL for match in re.finditer(pattern, text)]


def visible_text(response):
    content = response.content.decode()
    content = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", content)
    return " ".join(strip_tags(content).split())


def messages_of(response):
    return " ".join(str(message) for message in response.context["messages"])


def test_the_patterns_catch_what_they_describe():
    for wrong in ["Удалить рассылка", "Выберите клиент для изменения", "Удалить выбранные клиенты", "7 клиенты",
                  "1 клиентов", "Рассылка «Привет» был успешно добавлен.", "27 Ноябрь", "27 ноябрь 2026"]:
        assert ungrammatical(wrong), wrong
    for right in ["Удалить рассылку", "Выберите клиента для изменения", "Удалить выбранных клиентов",
                  "7 клиентов", "1 клиент", "3 рассылки", "Добавлено: рассылка «Привет».", "27 ноября 2026",
                  "27 мая", "Последние 7 дней"]:
        assert not ungrammatical(right), right


@pytest.fixture
def data(superuser, alice):
    clients = [Client.objects.create(owner=superuser, email=f"c{i}@example.com") for i in range(7)]
    message = Message.objects.create(owner=superuser, subject="Новости", body="<p>Привет</p>")
    mailing = Mailing.objects.create(owner=superuser, message=message, start_at=timezone.now() + timezone.timedelta(days=1))
    mailing.clients.add(*clients[:2])
    Post.objects.create(title="Статья", body="<p>Текст</p>", is_published=True, published_at=timezone.now())
    return clients


def test_every_admin_page_is_grammatical_russian(client, superuser, data):
    client.force_login(superuser)
    problems = {}
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        urls = [reverse("admin:%s_%s_changelist" % info)]
        try:
            urls.append(reverse("admin:%s_%s_add" % info))
        except NoReverseMatch:
            pass
        first = model._default_manager.first()
        if first is not None:
            urls += [reverse("admin:%s_%s_change" % info, args=[first.pk]),
                     reverse("admin:%s_%s_delete" % info, args=[first.pk])]
        for url in urls:
            response = client.get(url)
            if response.status_code == 200:
                problems.update({url: found} if (found := ungrammatical(visible_text(response))) else {})
    assert problems == {}


# model, data for the add form, data for the change form, and a second object to bulk delete
FORMS = {
    "client": (Client, {"email": "new@example.com", "full_name": "Анна"}, {"email": "new@example.com", "full_name": "Анна П."}),
    "message": (Message, {"subject": "Тема", "body": "<p>Текст</p>"}, {"subject": "Тема 2", "body": "<p>Текст</p>"}),
    "post": (Post, {"title": "Заметка", "slug": "zametka", "body": "<p>Текст</p>"}, {"title": "Заметка 2", "slug": "zametka", "body": "<p>Текст</p>"}),
    "group": (Group, {"name": "Редакторы"}, {"name": "Редакторы 2"}),
}


@pytest.mark.parametrize("model_name", FORMS)
def test_success_messages_are_grammatical_russian(client, superuser, data, model_name):
    model, add_data, change_data = FORMS[model_name]
    info = model._meta.app_label, model._meta.model_name
    client.force_login(superuser)
    said = []

    response = client.post(reverse("admin:%s_%s_add" % info), add_data, follow=True)
    said.append(messages_of(response))
    obj = model._default_manager.latest("pk")
    response = client.post(reverse("admin:%s_%s_change" % info, args=[obj.pk]), change_data, follow=True)
    said.append(messages_of(response))
    response = client.post(reverse("admin:%s_%s_delete" % info, args=[obj.pk]), {"post": "yes"}, follow=True)
    said.append(messages_of(response))

    objects = [model._default_manager.create(**extra) for extra in bulk_objects(model_name, superuser)]
    selected = {"action": "delete_selected", "_selected_action": [o.pk for o in objects]}
    changelist = reverse("admin:%s_%s_changelist" % info)
    confirmation = client.post(changelist, selected)
    said.append(visible_text(confirmation))
    response = client.post(changelist, {**selected, "post": "yes"}, follow=True)
    said.append(messages_of(response))

    assert all(said[:3]) and said[4], said  # every step said something
    assert ungrammatical(" | ".join(said)) == [], said
    assert not model._default_manager.filter(pk__in=[o.pk for o in objects]).exists()


def bulk_objects(model_name, owner):
    """Five objects: "5" takes the genitive plural in Russian ("Удалено: 5 клиентов")."""
    make = {
        "client": lambda i: {"owner": owner, "email": f"bulk{i}@example.com"},
        "message": lambda i: {"owner": owner, "subject": f"Тема {i}", "body": "<p>x</p>"},
        "post": lambda i: {"title": f"Пост {i}", "slug": f"post-{i}", "body": "<p>x</p>"},
        "group": lambda i: {"name": f"Группа {i}"},
    }[model_name]
    return [make(i) for i in range(5)]
