"""Pydantic models of the API's bodies and of the campaign's settings."""
