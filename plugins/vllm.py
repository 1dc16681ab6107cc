"""Placeholder: the vllm backend is being written."""
