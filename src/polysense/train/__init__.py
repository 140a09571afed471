"""polysense.train."""
