"""Call behaviours, sans I/O: voicemail, idle and duration clock, keypad, filler phrases, call tools."""
