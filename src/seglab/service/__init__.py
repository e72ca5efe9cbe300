"""Use cases: every transaction and permission check of the server, once."""
