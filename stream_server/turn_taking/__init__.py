"""Who has the floor, sans I/O: turn detection, end of turn, interruptions, backchannels, speculation."""
