"""Django's Russian formats, with the day and month in the genitive: "27 ноября", not "27 Ноябрь".

Django's own MONTH_DAY_FORMAT for Russian is "j F" (F is the nominative, capitalised month,
right only alone: "Ноябрь 2026 г."); the admin's date drill-down shows it after a day number.
"""
from django.conf.locale.ru.formats import *  # noqa: F401,F403

MONTH_DAY_FORMAT = "j E"
