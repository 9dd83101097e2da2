"""Book set-up commands: init, new-deal, schema, demo."""
