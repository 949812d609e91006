"""A file's journey: claim into the spool, map, resolve, commit, settle; parking, review, snapshots."""
