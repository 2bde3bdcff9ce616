"""Telephone audio, sans I/O: the mu-law codec and framing, and echo of the bot's own voice."""
