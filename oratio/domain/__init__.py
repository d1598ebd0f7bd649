"""Oratio's domain: plain models and policies (agents, routing, call sessions). No AWS imports here."""
