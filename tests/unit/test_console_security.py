"""The console is tested under the policy it ships with: the local console server's CSP is the stack's, less the
hosts it has no need of and the HTTPS upgrade (it serves plain HTTP on 127.0.0.1)."""

from __future__ import annotations

from oratio_local.console_server import SECURITY_HEADERS
from stacks.constructs.console_hosting import content_security_policy


def _directives(policy: str) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d for d in policy.split("; ")}


def test_the_local_server_enforces_every_directive_the_stack_deploys() -> None:
    deployed = _directives(content_security_policy("us-east-1", "amazonaws.com"))
    local = _directives(SECURITY_HEADERS["Content-Security-Policy"])
    assert set(deployed) - set(local) == {"upgrade-insecure-requests"}
    for name in ("default-src", "script-src", "style-src", "frame-ancestors", "object-src", "form-action"):
        assert local[name] == deployed[name], name
    assert local["connect-src"] == "connect-src 'self'", "locally the console fetches only its own origin"
    assert "https://cognito-idp.us-east-1.amazonaws.com" in deployed["connect-src"]
