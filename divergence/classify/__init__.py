"""Classified divergences: YAML rules say timing, bug or expected."""
