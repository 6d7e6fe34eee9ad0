"""Retrieval: the shop's documents and the users' past exchanges, embedded and searchable."""
