"""Scenario files: the schema, loading and validation, error messages."""
