"""Oratio's own Nova Sonic bridge for media-stream telephony (Twilio, Vonage) and local calls.

Read it as the call's pipeline: a serializer turns the provider's wire messages into typed frames
(`frames.py`), small processors (`pipeline.py`, `processors.py`) move them through the Nova Sonic
session (`sonic.py`) or the cascaded fallback (`cascaded.py`), and `bridge.py` wires one call.
"""
