"""Demo accounts loaded by ``make run``; the welcome banner prints the same list."""
DEMO_PASSWORD = "demo-pass-2026"

DEMO_ACCOUNTS = [
    ("admin@example.com", "superuser"),
    ("manager@example.com", "Managers"),
    ("content@example.com", "Content managers"),
    ("alice@example.com", "Users"),
    ("bob@example.com", "Users"),
]
