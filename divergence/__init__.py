"""Prove a shadow system is safe to flip."""
