"""Built-in formats, one module each. They are registered as entry points in pyproject.toml,
exactly as a third-party format would be, and imported only when first used."""
