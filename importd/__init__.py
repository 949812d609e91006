"""importd: watches inbox folders, maps each file with its rules, numbers new documents
from one gapless counter, writes them into the management database in one
transaction, then archives or quarantines the file.

Layers, one way: cli → config → service → pipeline stages (spool, parsers,
mapping, resolve, commit, settle) → store.
"""

__version__ = "0.1.0"
