"""A customer's statement (statement.py) as a self-contained HTML document: a table of the events with each
device's part in them, and for each event a plot (inline SVG) of the baseline against the measured load, per
interval of its window."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .statement import Statement

WIDTH, HEIGHT, PAD = 520, 160, 34


def _when(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _money(amounts: dict[str, str]) -> str:
    return ", ".join(f"{escape(amount)} {escape(currency)}" for currency, amount in amounts.items()) or "0"


def plot(profile: list[list[Any]]) -> str:
    """Baseline (dashed) and measured (solid) kW over the window, each interval's energy over its length."""
    points = [(a, b, Decimal(base) * 3600 / (b - a) if base is not None else None,
               Decimal(m) * 3600 / (b - a) if m is not None else None) for a, b, base, m in profile if b > a]
    values = [v for _, _, base, m in points for v in (base, m) if v is not None]
    if not points or not values:
        return "<p>No interval data for this window.</p>"
    t0, t1 = points[0][0], points[-1][1]
    low, high = min(min(values), Decimal(0)), max(max(values), Decimal(0))
    span = high - low or Decimal(1)

    def x(t: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * (t - t0) / max(t1 - t0, 1)

    def y(v: Decimal) -> float:
        return float(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / span)

    def line(index: int) -> str:
        steps = []
        for p in points:
            value = p[index]
            if value is not None:
                steps.append(f"{x(p[0]):.1f},{y(value):.1f} {x(p[1]):.1f},{y(value):.1f}")
        return " ".join(steps)
    zero = y(Decimal(0))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-label="baseline and measured load">'
            f'<line x1="{PAD}" y1="{zero:.1f}" x2="{WIDTH - PAD}" y2="{zero:.1f}" stroke="#bbb"/>'
            f'<polyline fill="none" stroke="#888" stroke-dasharray="5 4" stroke-width="2" points="{line(2)}"/>'
            f'<polyline fill="none" stroke="#0a6" stroke-width="2" points="{line(3)}"/>'
            f'<text x="{PAD}" y="14" font-size="11">kW: {high:.2f} (top), {low:.2f} (bottom); dashed: baseline, '
            f'green: measured</text></svg>')


def render(s: Statement) -> str:
    customer = s["customer"]
    rows = "".join(
        f"<tr><td>{escape(e['eventMRID'])}</td><td>{e['stagePosition']}</td><td>{escape(_when(e['start']))}</td>"
        f"<td>{e['duration']} s</td><td>{escape(e['endDeviceLFDI'])}</td><td>{escape(str(e['outcome']))}</td>"
        f"<td>{escape(str(e['avoidedKWh']))}</td><td>{escape(e['total'])} {escape(e['currency'])}</td>"
        f"<td>{'billed' if e['billedAt'] else 'unbilled'}</td></tr>" for e in s["events"])
    plots = "".join(
        f"<section><h3>{escape(e['eventMRID'])}, stage {e['stagePosition']}, {escape(e['endDeviceLFDI'])}</h3>"
        f"{plot(e['profile'])}<p>Baseline {escape(str(e['baselineKWh']))} kWh, measured "
        f"{escape(str(e['measuredKWh']))} kWh, avoided {escape(str(e['avoidedKWh']))} kWh "
        f"({escape(e['quality'])}).</p></section>" for e in s["events"])
    production = "".join(f"<li>{escape(p['servicePoint'])}: {escape(p['producedKWh'])} kWh</li>"
                         for p in s["production"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Statement: {escape(customer['name'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:90%}}</style></head><body>
<h1>Demand response statement</h1>
<p>{escape(customer['name'])} ({escape(customer['externalId'])}), {escape(_when(s['from']))} to
{escape(_when(s['to']))}</p>
<h2>Summary</h2>
<ul><li>Events taken part in: {len({e['stageId'] for e in s['events']})}</li>
<li>kWh avoided: {escape(s['avoidedKWh'])}</li><li>Credits: {_money(s['credits'])}</li>
<li>Billed: {_money(s['billed'])}; not yet billed: {_money(s['unbilled'])}</li></ul>
<h2>Per event</h2><ul>{"".join(f"<li>{escape(e['eventMRID'])} (stages {', '.join(map(str, e['stages']))}): "
                               f"{escape(e['avoidedKWh'])} kWh avoided, {_money(e['credits'])}</li>"
                               for e in s['byEvent'])}</ul>
<h2>Energy produced by your DERs</h2><ul>{production}</ul>
<h2>Events</h2>
<table><tr><th>Event</th><th>Stage</th><th>Start</th><th>Length</th><th>Device</th><th>Outcome</th>
<th>kWh avoided</th><th>Credit</th><th>Billing</th></tr>{rows}</table>
<h2>Baseline against measured load</h2>{plots}
</body></html>
"""
