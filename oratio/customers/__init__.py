"""One customer across channels: identity keys (phone identities by E.164), identity claims confirmed with a
one-time code, and links from a social id to the customer profile it belongs to."""
