"""The long-running process: its loop, the setup's lock, systemd, metrics and reporting."""
