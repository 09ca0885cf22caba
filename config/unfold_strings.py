"""Texts of django-unfold that have no Russian translation of their own.

unfold ships no Russian catalog, and Django's covers only the admin texts unfold shares with it.
Marking the rest here puts them in locale/ru/LC_MESSAGES/django.po, whose translations then
apply wherever unfold asks for them. Nothing imports this module.
"""
from django.utils.translation import gettext_noop

UNFOLD_TEXTS = [
    gettext_noop('Select record'),  # unfold/admin.py
    gettext_noop('Select action'),  # unfold/admin.py
    gettext_noop('Select format'),  # unfold/contrib/import_export/forms.py
    gettext_noop('This exporter will export the following fields'),  # unfold/contrib/import_export/templates/admin/import_export/export.html
    gettext_noop('View traceback'),  # unfold/contrib/import_export/templates/admin/import_export/import_errors.html
    gettext_noop('Select action to run'),  # unfold/forms.py
    gettext_noop('Raw passwords are not stored, so there is no way to see this user’s password, but you can change the password using <a href="{}" class="text-primary-600 dark:text-primary-500">this form</a>.'),  # unfold/forms.py
    gettext_noop('Select value'),  # unfold/mixins/base_model_admin.py
    gettext_noop("After you've created a user, you’ll be able to edit more user options."),  # unfold/templates/admin/auth/user/add_form.html
    gettext_noop('Filters'),  # unfold/templates/admin/change_list.html
    gettext_noop('Expand row'),  # unfold/templates/admin/change_list_results.html
    gettext_noop('Welcome back to'),  # unfold/templates/admin/login.html
    gettext_noop('Forgotten your password or username?'),  # unfold/templates/admin/login.html
    gettext_noop('Type to search'),  # unfold/templates/admin/search_form.html
    gettext_noop('No data'),  # unfold/templates/unfold/components/table.html
    gettext_noop('More actions'),  # unfold/templates/unfold/helpers/actions_row.html
    gettext_noop('All applications'),  # unfold/templates/unfold/helpers/app_list_all.html
    gettext_noop('True'),  # unfold/templates/unfold/helpers/boolean.html
    gettext_noop('False'),  # unfold/templates/unfold/helpers/boolean.html
    gettext_noop('Apply Filters'),  # unfold/templates/unfold/helpers/change_list_filter_actions.html
    gettext_noop('Select all rows'),  # unfold/templates/unfold/helpers/change_list_headers.html
    gettext_noop('Recent searches'),  # unfold/templates/unfold/helpers/command_history.html
    gettext_noop('No recent searches'),  # unfold/templates/unfold/helpers/command_history.html
    gettext_noop('No results matching your query'),  # unfold/templates/unfold/helpers/command_results.html
    gettext_noop('Loading more results...'),  # unfold/templates/unfold/helpers/command_results.html
    gettext_noop('Record picture'),  # unfold/templates/unfold/helpers/display_header.html
    gettext_noop('This item will be deleted.'),  # unfold/templates/unfold/helpers/edit_inline/inline_delete_undo.html
    gettext_noop('Click to cancel'),  # unfold/templates/unfold/helpers/edit_inline/inline_delete_undo.html
    gettext_noop('No results found'),  # unfold/templates/unfold/helpers/empty_results.html
    gettext_noop('This page yielded into no results. Create a new item or reset your filters.'),  # unfold/templates/unfold/helpers/empty_results.html
    gettext_noop('Reset filters'),  # unfold/templates/unfold/helpers/empty_results.html
    gettext_noop('Image preview'),  # unfold/templates/unfold/helpers/field_readonly_value_file.html
    gettext_noop('Click to download'),  # unfold/templates/unfold/helpers/field_readonly_value_file.html
    gettext_noop('Go back'),  # unfold/templates/unfold/helpers/header_back_button.html
    gettext_noop('Search apps and models...'),  # unfold/templates/unfold/helpers/search.html
    gettext_noop('General'),  # unfold/templates/unfold/helpers/tab_items.html
    gettext_noop('Light'),  # unfold/templates/unfold/helpers/theme_switch.html
    gettext_noop('Dark'),  # unfold/templates/unfold/helpers/theme_switch.html
    gettext_noop('Return to site'),  # unfold/templates/unfold/helpers/unauthenticated_header.html
    gettext_noop('Choose file to upload'),  # unfold/templates/unfold/widgets/clearable_file_input.html
    gettext_noop('Toggle password visibility'),  # unfold/templates/unfold/widgets/password_toggle.html
    gettext_noop('Date'),  # unfold/widgets.py
]
