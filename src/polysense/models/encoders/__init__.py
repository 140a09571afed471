"""polysense.models.encoders."""
