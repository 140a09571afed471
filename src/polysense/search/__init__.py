"""polysense.search."""
