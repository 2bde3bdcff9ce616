"""The local stack: everything `make dev` and `make demo` run on one machine, with no accounts.

Storage (moto), the HTTP API read from template.yaml, the stream host as a subprocess and the
Twilio emulator. Nothing in the product imports this package; it only imports the product.
"""
