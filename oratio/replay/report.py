"""Outputs of a replay run: the console timeline, JUnit XML for CI, and one self-contained HTML page (a timeline
per call; opens in a browser without a server)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Protocol
from xml.etree import ElementTree as ET

from oratio.replay.transcript import Event


class Result(Protocol):
    path: str
    name: str
    front_door: str
    passed: bool
    failure: str
    timeline: list[Event]
    outcome: str
    route: str
    cost_usd: float
    seconds: float


def console(results: Sequence[Result], *, timelines: bool = True) -> str:
    lines = []
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        lines.append(f"{mark}  {result.name}  [{result.front_door}, {result.path}]")
        if timelines:
            lines += [f"    {e.line()}" for e in result.timeline]
        if result.failure:
            lines += [f"    {line}" for line in result.failure.splitlines()]
        lines.append("")
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} of {len(results)} call scripts passed")
    return "\n".join(lines)


def junit(results: Sequence[Result]) -> str:
    suite = ET.Element(
        "testsuite",
        name="oratio.replay",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=result.path, name=result.name, time=f"{result.seconds:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=(result.failure.splitlines() or ["failed"])[0][:500])
            failure.text = result.failure
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(e.line() for e in result.timeline)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
h1{font-size:1.4rem}section{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.pass h2{color:#176c2a}.fail h2{color:#a11}h2{font-size:1.05rem}table{border-collapse:collapse;width:100%}
td{padding:.15rem .5rem;vertical-align:top;font-size:.9rem}td.t{color:#888;text-align:right;width:4rem}
td.w{font-weight:600;width:6rem}.caller td.w{color:#1c4fa0}.assistant td.w{color:#176c2a}.human td.w{color:#8a4b00}
.flow,.agent,.system{color:#666}pre{background:#fff4f4;padding:.5rem;white-space:pre-wrap}"""


def html_report(results: Sequence[Result], title: str = "Oratio call replay") -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{sum(r.passed for r in results)} of {len(results)} calls passed.</p>"]  # fmt: skip
    for result in results:
        status = "pass" if result.passed else "fail"
        parts.append(f"<section class='{status}'><h2>{status.upper()} — {html.escape(result.name)}</h2>")
        parts.append(
            f"<p>{html.escape(result.path)} · front door {html.escape(result.front_door)} · route "
            f"{html.escape(result.route or '-')} · {html.escape(result.outcome or '-')} · ${result.cost_usd:.5f}</p>"
        )
        parts.append("<table>")
        for event in result.timeline:
            parts.append(
                f"<tr class='{html.escape(event.who)}'><td class='t'>{event.at:.1f}s</td>"
                f"<td class='w'>{html.escape(event.who)}</td><td>{html.escape(event.text)}</td></tr>"
            )
        parts.append("</table>")
        if result.failure:
            parts.append(f"<pre>{html.escape(result.failure)}</pre>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
