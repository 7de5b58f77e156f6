"""Partners: the registry of the companies that invite customers (Direct, IndirectProvider, IndirectReseller)."""
