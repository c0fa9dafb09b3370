"""Blueprints: one module per concern, each with `build(section, ctx)`; the registry orders them."""
