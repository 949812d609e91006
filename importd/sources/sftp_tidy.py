"""After the ledger has them: remote files deleted, moved or given back, with their done-markers."""

from __future__ import annotations

import paramiko

from importd.config.sftp import SftpSettings
from importd.sources.sftp_pipeline import Pipeline


def on_success(sftp: paramiko.SFTPClient, settings: SftpSettings, logger,
               done: list[tuple[str, str, int]]) -> None:
    """Delete, move or give back remote files (name, claimed path, ledger id), then their
    done-markers, now that they are ours: each step one exchange of requests for them all."""
    if not done:
        return
    mode, folder = settings.on_success, settings.move_to
    if mode == "move":
        try:
            sftp.stat(folder)
        except FileNotFoundError:
            sftp.mkdir(folder)
    pipe, requests, actions = Pipeline(sftp), [], []
    for name, taken, _ in done:
        path = settings.remote(name)
        if mode == "delete":
            requests.append(pipe.remove(taken))
            actions.append("deleted")
        elif mode == "move":
            requests.append(pipe.rename(taken, f"{folder}/{name}"))
            actions.append(f"moved to {folder}/{name}")
        else:
            requests.append(pipe.rename(taken, path) if taken != path else None)
            actions.append("kept")
    answers = pipe.send()
    errors = [None if r is None else answers[r] for r in requests]
    if mode == "move":         # that name is taken (a file of the same name moved before)
        again = {i: f"{folder}/{done[i][2]}-{done[i][0]}" for i, e in enumerate(errors) if e is not None}
        requests = {i: pipe.rename(done[i][1], target) for i, target in again.items()}
        answers = pipe.send()
        for i, target in again.items():
            errors[i], actions[i] = answers[requests[i]], f"moved to {target}"
    finished = [i for i, e in enumerate(errors) if e is None]
    if settings.done_marker and mode != "keep":
        for i in finished:
            pipe.remove(settings.remote(done[i][0]) + settings.done_marker)
        errors += [e for e in pipe.send() if not isinstance(e, FileNotFoundError)]
    for i in finished:
        logger.info("sftp.on_success", file_id=done[i][2], file=done[i][0], action=actions[i])
    errors = [e for e in errors if e is not None]
    if errors:
        raise errors[0]
