"""polysense.losses."""
