"""Placeholder: rewards is being written."""
