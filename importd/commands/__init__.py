"""The command line: `cli` parses it, one module per verb that needs more than a few lines."""
