"""Placeholder: the crossview task family is being written."""
