"""What exists and who is right: lookups, identity, priorities, checks and numbering."""
