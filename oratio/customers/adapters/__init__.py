"""Adapters of the customer concern: claim stores (DynamoDB, memory) and code senders (SMS, email)."""
