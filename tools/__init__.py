"""Operator commands that are not part of the deployed application (see tools/admin.py)."""
