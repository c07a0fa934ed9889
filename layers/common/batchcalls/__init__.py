"""Shared package of the batch-call service: settings, domain, storage and adapters."""
