"""The operation ledger lives here (see the graphops issue)."""
