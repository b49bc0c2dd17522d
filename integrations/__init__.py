"""Build-system adapters that route link commands through linkpool."""
