"""Placeholder: the openai_compat backend is being written."""
