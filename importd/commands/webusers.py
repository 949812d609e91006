"""`importd web user …`: the admin's command for who may sign in to the ops page to decide.

    importd web user add NAME --role reviewer|viewer [--password-stdin | --generate]
    importd web user passwd NAME [--password-stdin | --generate]
    importd web user role NAME reviewer|viewer
    importd web user remove NAME
    importd web user list

The file is web_users_file (default web-users.json beside importd.toml), mode 0600.
A password is asked twice on a terminal, read from the first line of stdin with
--password-stdin, or made up and printed once with --generate.
"""

from __future__ import annotations

import getpass
import secrets
import sys

from importd.config.config import load_config
from importd.web.users import (ROLES, User, UsersUnavailable, check_name, check_password, hash_password, read_users,
                               write_users)

EXIT_OK, EXIT_USAGE = 0, 2
USAGE = ("write: importd web user add NAME --role reviewer|viewer | passwd NAME | role NAME ROLE | remove NAME "
         "| list")


def cmd_web_user(args) -> int:
    config = load_config(args.config)
    path = config.web.users_file
    what = args.what[1:]
    try:
        users = read_users(path)
        if what == ["list"]:
            for user in sorted(users.values(), key=lambda u: u.name):
                print(f"{user.name}  {user.role}")
            print(f"{len(users)} user(s) in {path}")
            return EXIT_OK
        if len(what) < 2 or what[0] not in ("add", "passwd", "role", "remove"):
            return _usage(USAGE)
        action, name = what[0], what[1]
        if action == "add":
            if why := check_name(name):
                return _usage(why)
            if name in users:
                return _usage(f"{name} is already a user: `importd web user passwd {name}` changes the password")
            if args.role not in ROLES:
                return _usage("say which role: --role reviewer (decides) or --role viewer (reads)")
            password = _password(args)
            if password is None:
                return EXIT_USAGE
            users[name] = User(name, args.role, hash_password(password))
        elif name not in users:
            return _usage(f"no user {name} in {path} (see `importd web user list`)")
        elif action == "passwd":
            password = _password(args)
            if password is None:
                return EXIT_USAGE
            users[name] = User(name, users[name].role, hash_password(password))
        elif action == "role":
            if len(what) != 3 or what[2] not in ROLES:
                return _usage(f"write: importd web user role {name} reviewer|viewer")
            users[name] = User(name, what[2], users[name].hash)
        else:
            del users[name]
        write_users(path, users)
    except UsersUnavailable as e:
        return _usage(str(e))
    print(f"{path}: {action} {name}" + (f" ({users[name].role})" if name in users else "")
          + "; sessions of a changed or removed user end at their next request")
    return EXIT_OK


def _password(args) -> str | None:
    if args.generate:
        password = secrets.token_urlsafe(15)
        print(f"password (shown once): {password}")
        return password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("importd web user: the two passwords differ", file=sys.stderr)
            return None
    if why := check_password(password):
        print(f"importd web user: {why}", file=sys.stderr)
        return None
    return password


def _usage(text: str) -> int:
    print(f"importd web user: {text}", file=sys.stderr)
    return EXIT_USAGE
