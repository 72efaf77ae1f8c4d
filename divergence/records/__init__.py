"""Normalised records: stream entries become deliveries and events, legacy rows outcomes."""
