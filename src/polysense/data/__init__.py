"""polysense.data."""
