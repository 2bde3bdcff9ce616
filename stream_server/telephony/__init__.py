"""Twilio Media Streams, sans I/O: the wire format and the ledger of what the caller heard (marks)."""
