"""Sources find files that are complete and ready to claim."""
