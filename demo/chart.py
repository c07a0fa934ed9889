"""Planned versus placed calls per local hour, one panel per local day (PNG, Agg), as the
campaign's analytics count them (`per_hour`)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from demo.run import DemoResult


def _bucket(hour: str) -> tuple[date, int]:
    """An analytics hour (`2026-11-30T12:00:00-05:00`, local): its local date and hour."""
    local = datetime.fromisoformat(hour)
    return local.date(), local.hour


def save_chart(result: DemoResult, path: Path) -> Path:
    settings = result.settings
    zone = ZoneInfo(settings["timezone"])
    planned: Counter[tuple[date, int]] = Counter()
    placed: Counter[tuple[date, int]] = Counter()
    for hour in result.analytics.get("per_hour", []):
        planned[_bucket(hour["hour"])] += int(hour["planned"])
        placed[_bucket(hour["hour"])] += int(hour["placed"])

    days = sorted({d for d, _ in planned} | {d for d, _ in placed})
    if not days:
        days = [result.started_at.astimezone(zone).date()] if result.started_at else []
    used_hours = [h for _, h in planned] + [h for _, h in placed]
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
            d = [placed[(day, h)] for h in hours]
            axis.bar([x - width / 2 for x in xs], p, width, label="planned (retries included)")
            axis.bar([x + width / 2 for x in xs], d, width, label="placed")
            axis.set_title(f"{day:%a %d %b}: {sum(p)} planned, {sum(d)} placed", fontsize=10)
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
        figure.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, frameon=False)
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
