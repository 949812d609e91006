"""Records to documents: rules files read and compiled, field mapping, value transforms."""
