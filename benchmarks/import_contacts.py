"""A generated contact file of N rows (default 1,000,000) through the importer, against a
local moto server: parse and validation speed, peak memory, DynamoDB requests per 1,000
rows against the 25-item batch minimum.

Run: .venv/bin/python benchmarks/import_contacts.py [--rows N] [--runs 3]

- moto runs in a child process (with local_stack's moto hooks), so this process's peak
  RSS is the importer's own: it reads the file as a stream, whatever its size.
- Parse and validation: the file's first 200,000 rows read and judged as the importer
  does (CSV records, then each row validated and its number parsed), no AWS; the median
  of `--runs` runs, beside `phonenumbers.parse` alone on the same numbers (same run).
- End to end: the file uploaded to the moto S3, then imported chunk after chunk (each
  chunk's message handed straight to the next invocation) until the import completes;
  every AWS request counted by operation. The minimum is one 25-item BatchWriteItem per
  25 rows (rows / 25 requests); the importer writes with 96-contact transactions, so it
  stays under that minimum, and the figure says by how much. With the local runtime's
  latency model (local_stack/latency.py), each invocation's modelled AWS time: their sum
  is printed beside the measured time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]

import botocore.client  # noqa: E402

from local_stack import aws_requests  # noqa: E402
from local_stack.latency import LatencyModel  # noqa: E402

SERVER = (
    "from local_stack import moto_hooks; moto_hooks.install()\n"
    "from local_stack.moto_server import MotoServer\n"
    "import sys, time; print(MotoServer().start(), flush=True)\n"
    "sys.stdin.read()\n"  # until the benchmark closes the pipe
)
PARSE_ROWS = 200_000
RESULT = "RESULT "
TENANT = "tenant_bench"


def write_file(path: Path, rows: int) -> None:
    """A CSV like a CRM export: number (some without country code, some bad, some
    repeated), name, timezone for a few, two variables."""
    rng = random.Random(7)
    areas = ["212", "415", "305", "646", "718", "312", "617", "713", "206", "404"]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Phone Number", "Name", "Timezone", "plan", "renewal_date"])
        for i in range(rows):
            number = f"+1{areas[i % 10]}{200 + (i // 10) // 10000:03d}{(i // 10) % 10000:04d}"
            if i % 100 == 99:
                number = "not-a-number"
            elif i % 50 == 7:
                number = number[2:]  # national: read with the campaign's region
            elif i % 200 == 3 and i > 10:
                number = f"+1{areas[(i - 10) % 10]}{200 + ((i - 10) // 10) // 10000:03d}{((i - 10) // 10) % 10000:04d}"
            zone = "America/Chicago" if i % 7 == 0 else ""
            writer.writerow(
                [number, f"Contact {i}", zone, rng.choice(["gold", "silver"]), "2027-01-31"]
            )


def parse_rate(path: Path, runs: int) -> tuple[float, float]:
    """Rows per second read and judged as the importer does, and phonenumbers.parse alone."""
    import phonenumbers
    from batchcalls.domain.contact_files import csv_records, read_csv_header
    from batchcalls.domain.contacts import judge_row

    with path.open("rb") as f:
        head = [raw for _ in range(PARSE_ROWS + 1) if (raw := f.readline())]
    header, offset, line = read_csv_header(head)
    body = head[1:]
    numbers = [line.split(b",", 1)[0].decode() for line in body]
    ours, alone = [], []
    for _ in range(runs):
        began = time.perf_counter()
        for record in csv_records(body, header, offset, line):
            judge_row(record.row, "US") if record.row else None
        ours.append(len(body) / (time.perf_counter() - began))
        began = time.perf_counter()
        for number in numbers:
            with suppress(phonenumbers.NumberParseException):
                phonenumbers.parse(number, "US")
        alone.append(len(numbers) / (time.perf_counter() - began))
    return statistics.median(ours), statistics.median(alone)


@contextmanager
def counting_requests() -> Iterator[Counter[str]]:
    """Every AWS request made inside, as `<service>.<operation>`."""
    counted: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        counted[f"{self.meta.service_model.service_name}.{operation}"] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def rss_mb() -> float:
    """This process's resident memory now (Linux). Not ru_maxrss: a child started by a
    large parent begins with the parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """The highest `rss_mb` seen while it runs (sampled every 20 ms in a thread)."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def prepare(path: Path) -> dict[str, str]:
    """The tables, the bucket, a draft campaign and the file uploaded (in this process)."""
    import boto3
    from batchcalls.adapters.tables import bind_tables
    from batchcalls.clock import SystemClock, use_clock
    from batchcalls.models.campaign import CreateCampaignRequest
    from batchcalls.services.campaigns import CampaignService
    from batchcalls.settings import StorageSettings, load_settings

    from tests.support.aws import create_template_resources, environment_for

    physical = create_template_resources()
    os.environ.update(environment_for("ImporterFunction", physical))
    bind_tables(load_settings(StorageSettings))
    clock = SystemClock()
    use_clock(clock)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="contacts")
    body = {"status": "draft", "agent_id": "a", "phone_numbers": ["+14155550100"]}
    campaign, _ = CampaignService(clock).create(TENANT, CreateCampaignRequest.model_validate(body))
    key = f"imports/{TENANT}/{campaign.campaign_id}/bench/{path.name}"
    s3.upload_file(str(path), "contacts", key)
    etag = s3.head_object(Bucket="contacts", Key=key)["ETag"]
    return {"key": key, "etag": etag, "campaign_id": campaign.campaign_id}


def import_only(spec: dict[str, str]) -> dict[str, Any]:
    """The import alone, chunk after chunk, as the importer function runs it (this is the
    child process: its peak RSS is the importer's, like a Lambda's "Max Memory Used")."""
    from batchcalls.adapters.contact_file_bucket import ContactFileBucket
    from batchcalls.adapters.contact_moves import ContactCounts
    from batchcalls.adapters.import_store import ImportStore
    from batchcalls.adapters.tables import bind_tables
    from batchcalls.clock import SystemClock, use_clock
    from batchcalls.services.imports import ImportService
    from batchcalls.settings import StorageSettings, load_settings

    bind_tables(load_settings(StorageSettings))
    clock = SystemClock()
    use_clock(clock)

    class Chunks:
        def __init__(self) -> None:
            self.messages: list[dict[str, Any]] = []

        def send(self, message: dict[str, Any]) -> None:
            self.messages.append(message)

    chunks = Chunks()
    importer = ImportService(clock, ContactFileBucket("contacts"), chunks)
    rss_before = rss_mb()
    began = time.perf_counter()
    handed_on = 0
    aws_requests.install()  # before counting_requests wraps the same entry point
    model = LatencyModel()
    with PeakRss() as rss, model, counting_requests() as counted:
        with aws_requests.invocation("ImporterFunction"):
            importer.on_object(spec["key"], None, spec["etag"])
        while chunks.messages:
            handed_on += 1
            with aws_requests.invocation("ImporterFunction"):
                importer.on_next_chunk(chunks.messages.pop())
    seconds = time.perf_counter() - began
    rss_peak = rss.peak
    [state] = ImportStore().of_campaign(TENANT, spec["campaign_id"])
    stored = sum(ContactCounts().totals(TENANT, spec["campaign_id"]).values())
    return {
        "seconds": seconds,
        "chunks": handed_on + 1,
        "status": state.status,
        "accepted": state.accepted,
        "duplicates": state.duplicates,
        "invalid": state.invalid,
        "stored": stored,
        "counted": dict(counted),
        "rss_before": rss_before,
        "rss_peak": rss_peak,
        "modelled_aws_seconds": model.seconds,
        "modelled_serial_seconds": model.serial_seconds,
        "max_invocation_seconds": max((t.seconds for t in model.invocations.values()), default=0),
    }


def handler_rss_mb(function: str = "importer") -> float:
    """Resident memory of a fresh interpreter that imports a function's handler, as
    Lambda does at a cold start (a benchmark's own child also imports moto and the
    local runtime, which the function never does)."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "print(int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024)"
    )
    answer = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(ROOT / "functions" / function),
            str(ROOT / "layers" / "common"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(answer.stdout.strip().splitlines()[-1])


def result_of_child(script: str, flag: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run `script flag <spec as JSON>` in a fresh interpreter (its memory its own) and
    give back the result it printed after RESULT."""
    answer = subprocess.run(
        [sys.executable, script, flag, json.dumps(spec)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        },
        capture_output=True,
        text=True,
    )
    if answer.returncode != 0:
        raise SystemExit(f"{Path(script).name} {flag} failed:\n{answer.stderr[-3000:]}")
    [line] = [x for x in answer.stdout.splitlines() if x.startswith(RESULT)]
    return dict(json.loads(line[len(RESULT) :]))


def import_in_child(spec: dict[str, str]) -> dict[str, Any]:
    return result_of_child(str(Path(__file__).resolve()), "--import-only", spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--import-only", help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    if args.import_only:
        print(RESULT + json.dumps(import_only(json.loads(args.import_only))), flush=True)
        return
    report(measure(args.rows, args.runs))


@contextmanager
def moto_in_child() -> Iterator[None]:
    """A moto server in a process of its own (its memory not the benchmark's), with the
    AWS clients of this process and its children pointed at it while the block runs."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    saved_endpoint = os.environ.get("AWS_ENDPOINT_URL")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        os.environ["AWS_ENDPOINT_URL"] = server.stdout.readline().strip()
        yield
    finally:
        # moto holds every item written (gigabytes at a million rows): freeing it all at
        # exit takes long, and nothing of it is needed any more.
        server.kill()
        server.wait()
        if saved_endpoint is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved_endpoint


def measure(rows: int = 1_000_000, runs: int = 3) -> dict[str, Any]:
    """Parse rates (median of `runs`) and one import of `rows` rows end to end, as data."""
    with moto_in_child(), tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "contacts.csv"
        write_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        result = import_in_child(prepare(path))
        handler_mb = handler_rss_mb()
        ours, alone = parse_rate(path, runs)
    counted = result["counted"]
    dynamodb = {k: v for k, v in counted.items() if k.startswith("dynamodb.")}
    per_thousand = 1000 / rows
    total = sum(dynamodb.values())
    return {
        "rows": rows,
        "size_mb": size_mb,
        "parse_rows_per_second": ours,
        "phonenumbers_rows_per_second": alone,
        "parse_ratio": ours / alone,
        "seconds": result["seconds"],
        "rows_per_second": rows / result["seconds"],
        "chunks": result["chunks"],
        "status": result["status"],
        "accepted": result["accepted"],
        "duplicates": result["duplicates"],
        "invalid": result["invalid"],
        "stored": result["stored"],
        "rss_before_mb": result["rss_before"],
        "rss_peak_mb": result["rss_peak"],
        "import_growth_mb": result["rss_peak"] - result["rss_before"],
        "handler_rss_mb": handler_mb,
        "importer_rss_mb": handler_mb + result["rss_peak"] - result["rss_before"],
        "dynamodb_per_1000": {
            k: v * per_thousand for k, v in sorted(dynamodb.items(), key=lambda kv: -kv[1])
        },
        "dynamodb_total_per_1000": total * per_thousand,
        "batch_minimum_per_1000": 1000 / 25,
        "ratio_to_batch_minimum": total / (rows / 25),
        "other_requests": {k: v for k, v in sorted(counted.items()) if k not in dynamodb},
        "modelled_aws_seconds": result["modelled_aws_seconds"],
        "modelled_serial_seconds": result["modelled_serial_seconds"],
        "max_invocation_modelled_seconds": result["max_invocation_seconds"],
    }


def report(f: dict[str, Any]) -> None:
    rows = f["rows"]
    print(
        f"Import of a generated CSV: {rows:,} rows, {f['size_mb']:.0f} MB (machine: {os.cpu_count()} cores)"
    )
    print(
        f"  parse and validation   {f['parse_rows_per_second']:10,.0f} rows/s (median of runs; phonenumbers.parse alone {f['phonenumbers_rows_per_second']:,.0f}/s, ratio {f['parse_ratio']:.2f})"
    )
    print(
        f"  end to end (moto)      {f['rows_per_second']:10,.0f} rows/s ({f['seconds']:.0f} s in {f['chunks']} chunks)"
    )
    print(
        f"  modelled AWS time      {f['modelled_aws_seconds']:10.1f} s (latency model; every request in a row {f['modelled_serial_seconds']:.1f} s; slowest chunk {f['max_invocation_modelled_seconds']:.2f} s)"
    )
    print(
        f"  import                 {f['status']}: {f['accepted']:,} accepted, {f['duplicates']:,} duplicates, {f['invalid']:,} invalid; {f['stored']:,} contacts stored"
    )
    print(
        f"  importer's memory      {f['importer_rss_mb']:10.0f} MB = its handler imported ({f['handler_rss_mb']:.0f} MB, fresh interpreter) + the import's growth ({f['import_growth_mb']:.0f} MB: peak RSS {f['rss_peak_mb']:.0f} MB of a process that started at {f['rss_before_mb']:.0f} MB with moto and the local runtime loaded)"
    )
    print("  DynamoDB requests per 1,000 rows:")
    for operation, n in f["dynamodb_per_1000"].items():
        print(f"    {operation:26s} {n:8.2f}")
    print(
        f"    {'total':26s} {f['dynamodb_total_per_1000']:8.2f}   (25-item batch minimum: {f['batch_minimum_per_1000']:.2f}; ratio {f['ratio_to_batch_minimum']:.2f})"
    )
    if f["other_requests"]:
        print("  other requests: " + ", ".join(f"{k} {v}" for k, v in f["other_requests"].items()))


if __name__ == "__main__":
    main()
