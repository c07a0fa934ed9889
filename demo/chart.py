"""Planned versus placed calls per local hour, one panel per local day (PNG, Agg)."""

from __future__ import annotations

from collections import Counter
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from demo.report import attempts_of, instant

if TYPE_CHECKING:
    from demo.run import DemoResult


def _bucket(text: str, zone: ZoneInfo) -> tuple[date, int]:
    local = instant(text).astimezone(zone)
    return local.date(), local.hour


def save_chart(result: DemoResult, path: Path) -> Path:
    settings = result.settings
    zone = ZoneInfo(settings["timezone"])
    planned = Counter(_bucket(t, zone) for t in result.planned.values() if t)
    first: Counter[tuple[date, int]] = Counter()
    retry: Counter[tuple[date, int]] = Counter()
    for call, attempt in attempts_of(result.calls):
        (retry if attempt > 1 else first)[_bucket(call["placed_at"], zone)] += 1

    days = sorted({d for d, _ in planned} | {d for d, _ in first} | {d for d, _ in retry})
    if not days:
        days = [result.started_at.astimezone(zone).date()] if result.started_at else []
    used_hours = [h for _, h in planned] + [h for _, h in first] + [h for _, h in retry]
    start_hour = time.fromisoformat(settings["start_time"]).hour
    end_hour = time.fromisoformat(settings["end_time"]).hour
    low = min([start_hour, *used_hours])
    high = max([end_hour - 1, *used_hours])
    hours = list(range(low, high + 1))

    panels = max(1, len(days))
    figure, axes = plt.subplots(
        1, panels, figsize=(min(max(4.2 * panels, 8), 22), 5.2), sharey=True, squeeze=False
    )
    width = 0.4
    panel_days: list[date | None] = list(days) or [None]
    for axis, day in zip(axes[0], panel_days, strict=True):
        xs = list(range(len(hours)))
        if day is not None:
            p = [planned[(day, h)] for h in hours]
            f = [first[(day, h)] for h in hours]
            r = [retry[(day, h)] for h in hours]
            axis.bar([x - width / 2 for x in xs], p, width, label="planned (first attempts)")
            axis.bar([x + width / 2 for x in xs], f, width, label="placed: first attempts")
            axis.bar([x + width / 2 for x in xs], r, width, bottom=f, label="placed: retries")
            axis.set_title(
                f"{day:%a %d %b}: {sum(p)} planned, {sum(f) + sum(r)} placed", fontsize=10
            )
        axis.set_xticks(xs)
        axis.set_xticklabels([f"{h:02d}" for h in hours], fontsize=8)
        axis.set_xlabel(f"hour ({settings['timezone']})")
        axis.axvspan(
            hours.index(start_hour) - 0.5 if start_hour in hours else -0.5,
            (hours.index(end_hour - 1) + 0.5) if end_hour - 1 in hours else len(hours) - 0.5,
            color="0.93",
            zorder=0,
        )
        axis.grid(axis="y", alpha=0.4)
    axes[0][0].set_ylabel("calls per hour")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncols=3, fontsize=9, frameon=False)
    campaign = result.campaign
    figure.suptitle(
        f"Planned vs placed calls per hour: campaign {result.campaign_id} "
        f"({campaign.get('status', '?')})\n"
        f"{len(result.planned)} contacts, window {settings['start_time']}-"
        f"{settings['end_time']} (shaded), {settings['max_calls_per_day']}/day, "
        f"{settings['max_calls_per_second']}/s, {settings['max_concurrent_calls']} at once",
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
