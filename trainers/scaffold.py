"""Placeholder: scaffold is being written."""
