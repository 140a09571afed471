"""polysense.evaluate."""
