"""polysense.signal."""
