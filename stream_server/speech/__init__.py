"""Producing a spoken reply: LLM stream -> sentences -> spoken-form text -> TTS audio."""
