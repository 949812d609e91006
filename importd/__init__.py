"""importd: watches inbox folders, maps each file with its rules, numbers new documents
from one gapless counter, writes them into the management database in one
transaction, then archives or quarantines the file.

Layers, one way: commands → service → sources → stages → resolve → store →
mapping and config → parsers and the shared floor (model, errors, faults,
durable, log, pids, tomlfile). README "Where the code lives" names each wing.
"""

__version__ = "0.2.0"
