"""Adapters behind `oratio.ports`: DynamoDB when deployed, in-memory for the local mode and tests."""
