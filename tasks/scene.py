"""Placeholder: the scene task family is being written."""
