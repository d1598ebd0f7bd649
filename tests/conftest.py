"""Every test process: moto answers one request at a time (see `oratio_local.moto_serial`), so a test of code
that writes concurrently — as DynamoDB allows — never loses a write to moto's own lack of a lock."""

from oratio_local.moto_serial import serialize_moto

serialize_moto()
