"""polysense.cli."""
