"""callcore: the domain of an AI phone call, shared by every Lambda handler and the stream host.

This package imports only libraries (boto3, twilio, Powertools); it never imports a handler, the
stream host or the local stack, so each of those can be deployed without the others.
"""
