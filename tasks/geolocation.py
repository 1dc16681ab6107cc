"""Placeholder: the geolocation task family is being written."""
