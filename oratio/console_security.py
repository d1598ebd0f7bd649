"""The vendor console's Content-Security-Policy, one definition for the CloudFront response headers the stack
deploys (`stacks/constructs/console_hosting.py`) and the local console server the browser tests run under
(`oratio_local/console_server.py`), so the console is tested under the policy it ships with.

Only the console's own files run; it talks to its origin (the API) and the hosts it is given (Cognito for sign-in,
S3 for presigned uploads and recordings). Nothing inline, no frames, no plugins, no forms posted elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence


def content_security_policy(
    *, connect_hosts: Sequence[str] = (), media_sources: Sequence[str] = (), upgrade_insecure: bool = True
) -> str:
    """The policy with `'self'` plus `connect_hosts` for fetches and `media_sources` for the recording player;
    `upgrade_insecure` is off only for the local server, which serves plain HTTP on 127.0.0.1."""
    directives = [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        " ".join(["connect-src 'self'", *connect_hosts]),
        " ".join(["media-src", *(media_sources or ["'self'"])]),
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
    if upgrade_insecure:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)
