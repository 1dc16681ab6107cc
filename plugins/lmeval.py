"""Placeholder: the lmeval backend is being written."""
