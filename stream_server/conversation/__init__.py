"""One call's decisions, sans I/O: `CallState` turns frames, transcripts and the clock into actions."""
