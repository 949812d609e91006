"""importd.toml and its parts: folders, numbering series, sources, the database and SFTP keys."""
