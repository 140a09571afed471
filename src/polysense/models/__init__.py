"""polysense.models."""
