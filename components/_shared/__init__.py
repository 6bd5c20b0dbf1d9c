"""The only I/O, settings, model-format and report helpers the components share."""
