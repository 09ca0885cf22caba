"""Admin texts that stay grammatical in Russian (issue #13, item 9).

Django's admin builds its sentences from a model's ``verbose_name`` in the nominative:
"Удалить рассылка", "Выберите клиент для изменения", "7 клиенты", "Удалить выбранные
клиенты". Russian needs the accusative after a verb, "выбранных" before an animate noun, and
three plural forms after a number. Each admin model's forms are below, as gettext entries with
a context per case, so English keeps its verbose names. ``GrammaticalAdminTexts`` uses them
for the titles, the delete confirmation and the bulk delete action; the overridden templates
(submit_line, add_link, empty_results, pagination_default) use the ``admin_grammar`` filters;
the gender-bound success messages of Django ("… был успешно добавлен") are rephrased without
gender in the Russian catalog ("Добавлено: рассылка «…»").

``config.apps`` mixes ``GrammaticalAdminTexts`` into every registered ModelAdmin at start-up
(ours and those of django-q2 and axes), so no admin module has to remember it.
"""
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext_lazy
from django.utils.translation import pgettext
from django.utils.translation import pgettext_lazy


@dataclass(frozen=True)
class Noun:
    accusative: str  # "Добавить клиента", "Удалить рассылку"
    accusative_plural: str  # "Удалить выбранных клиентов", "Удалить выбранные рассылки"
    counted: str  # lazy ngettext keyed on "count": "%(count)s client" / "%(count)s clients"
    animate: bool = False  # people: "выбранных клиентов", things: "выбранные рассылки"

    def count(self, number):
        return self.counted % {"count": number}


NOUNS = {
    "mailings.client": Noun(pgettext_lazy("accusative", "client"), pgettext_lazy("accusative plural", "clients"),
                            ngettext_lazy("%(count)s client", "%(count)s clients", "count"), animate=True),
    "mailings.message": Noun(pgettext_lazy("accusative", "message"), pgettext_lazy("accusative plural", "messages"),
                             ngettext_lazy("%(count)s message", "%(count)s messages", "count")),
    "mailings.mailing": Noun(pgettext_lazy("accusative", "mailing"), pgettext_lazy("accusative plural", "mailings"),
                             ngettext_lazy("%(count)s mailing", "%(count)s mailings", "count")),
    "mailings.attempt": Noun(pgettext_lazy("accusative", "attempt"), pgettext_lazy("accusative plural", "attempts"),
                             ngettext_lazy("%(count)s attempt", "%(count)s attempts", "count")),
    "mailings.delivery": Noun(pgettext_lazy("accusative", "delivery"), pgettext_lazy("accusative plural", "deliveries"),
                              ngettext_lazy("%(count)s delivery", "%(count)s deliveries", "count")),
    "content.post": Noun(pgettext_lazy("accusative", "blog post"), pgettext_lazy("accusative plural", "blog posts"),
                         ngettext_lazy("%(count)s blog post", "%(count)s blog posts", "count")),
    "backoffice.user": Noun(pgettext_lazy("accusative", "user"), pgettext_lazy("accusative plural", "users"),
                            ngettext_lazy("%(count)s user", "%(count)s users", "count"), animate=True),
    "auth.group": Noun(pgettext_lazy("accusative", "group"), pgettext_lazy("accusative plural", "groups"),
                       ngettext_lazy("%(count)s group", "%(count)s groups", "count")),
    "django_q.schedule": Noun(pgettext_lazy("accusative", "scheduled task"), pgettext_lazy("accusative plural", "scheduled tasks"),
                              ngettext_lazy("%(count)s scheduled task", "%(count)s scheduled tasks", "count")),
    "django_q.success": Noun(pgettext_lazy("accusative", "successful task"), pgettext_lazy("accusative plural", "successful tasks"),
                             ngettext_lazy("%(count)s successful task", "%(count)s successful tasks", "count")),
    "django_q.failure": Noun(pgettext_lazy("accusative", "failed task"), pgettext_lazy("accusative plural", "failed tasks"),
                             ngettext_lazy("%(count)s failed task", "%(count)s failed tasks", "count")),
    "django_q.ormq": Noun(pgettext_lazy("accusative", "queued task"), pgettext_lazy("accusative plural", "queued tasks"),
                          ngettext_lazy("%(count)s queued task", "%(count)s queued tasks", "count")),
    "axes.accessattempt": Noun(pgettext_lazy("accusative", "access attempt"), pgettext_lazy("accusative plural", "access attempts"),
                               ngettext_lazy("%(count)s access attempt", "%(count)s access attempts", "count")),
    "axes.accesslog": Noun(pgettext_lazy("accusative", "access log"), pgettext_lazy("accusative plural", "access logs"),
                           ngettext_lazy("%(count)s access log", "%(count)s access logs", "count")),
    "axes.accessfailurelog": Noun(pgettext_lazy("accusative", "access failure"), pgettext_lazy("accusative plural", "access failures"),
                                  ngettext_lazy("%(count)s access failure", "%(count)s access failures", "count")),
}


class _UnknownNoun(Noun):
    """A model added without forms above: neutral phrases ("Клиенты: 7") that are never wrong."""

    def count(self, number):
        return f"{capfirst(self.accusative_plural)}: {number}"


def noun_of(opts):
    return NOUNS.get(opts.label_lower) or _UnknownNoun(opts.verbose_name, opts.verbose_name_plural, "")


def delete_selected(modeladmin, request, queryset):
    """Django's bulk delete, with its confirmation and its result in correct Russian."""
    noun = noun_of(modeladmin.opts)
    if request.POST.get("post"):
        _objects, _count, perms_needed, protected = modeladmin.get_deleted_objects(queryset, request)
        if not protected:
            if perms_needed:
                raise PermissionDenied
            number = len(queryset)
            if number:
                modeladmin.log_deletions(request, queryset)
                modeladmin.delete_queryset(request, queryset)
                message = pgettext("admin", "Deleted: %(objects)s.") % {"objects": noun.count(number)}
                modeladmin.message_user(request, message, messages.SUCCESS)
            return None
    response = django_delete_selected(modeladmin, request, queryset)
    if isinstance(response, TemplateResponse):
        response.context_data["objects_name"] = str(noun.accusative_plural)
    return response


def delete_selected_description(noun):
    if noun.animate:
        return pgettext("admin action, animate", "Delete selected %(objects)s") % {"objects": noun.accusative_plural}
    return pgettext("admin action", "Delete selected %(objects)s") % {"objects": noun.accusative_plural}


class GrammaticalAdminTexts:
    """Titles, delete confirmations and the bulk delete action with the noun in its case."""

    def changelist_view(self, request, extra_context=None):
        accusative = noun_of(self.opts).accusative
        title = _("Select %s to change") if self.has_change_permission(request) else _("Select %s to view")
        return super().changelist_view(request, {"title": title % accusative, **(extra_context or {})})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        accusative = noun_of(self.opts).accusative
        if object_id is None:
            title = _("Add %s")
        else:
            obj = self.get_object(request, unquote(object_id))
            title = _("Change %s") if self.has_change_permission(request, obj) else _("View %s")
        context = {"title": title % accusative, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)

    def delete_view(self, request, object_id, extra_context=None):
        context = {"object_name": str(noun_of(self.opts).accusative), **(extra_context or {})}
        return super().delete_view(request, object_id, context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                delete_selected, "delete_selected", delete_selected_description(noun_of(self.opts))
            )
        return actions


def make_admins_grammatical(site):
    """Mix GrammaticalAdminTexts into every ModelAdmin registered on ``site`` (once)."""
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if not issubclass(cls, GrammaticalAdminTexts):
            model_admin.__class__ = type(cls.__name__, (GrammaticalAdminTexts, cls), {"__module__": cls.__module__})
