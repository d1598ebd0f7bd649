"""`python -m oratio replay PATH...` runs conversation scripts; `python -m oratio talk` is the same engine,
interactive. Both run locally (the replay needs the repository's local mode: `make setup`)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in {"replay", "talk"}:
        print("usage: python -m oratio replay PATH... [--junit FILE] [--html FILE] [--front-door DOOR]\n"
              "       python -m oratio talk --tenant ID [--agent ID] [--front-door DOOR]", file=sys.stderr)  # fmt: skip
        return 2
    from oratio_local.replay import cli

    return cli.replay(args[1:]) if args[0] == "replay" else cli.talk(args[1:])


if __name__ == "__main__":
    sys.exit(main())
