"""Token wallets and the append-only ledger: the only place a balance changes."""
