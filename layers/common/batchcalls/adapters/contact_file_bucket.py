"""The contacts bucket: presigned URLs, contact files read as streams of lines from any
byte offset (gzip too), and the error reports written beside them.

Nothing is loaded whole: a file is read through a buffered stream, line by line; an
error report is written in parts (one per batch of rows that had errors) and joined at
the end with a multipart upload, holding at most one upload part in memory.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Generator, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from batchcalls.domain.contact_files import bounded_lines

URL_SECONDS = 15 * 60
READ_BUFFER = 1 << 20
UPLOAD_PART_BYTES = 8 << 20  # S3 parts are at least 5 MiB but the last
REPORT_HEADER = b"line,phone_number,reason\r\n"


class FileChanged(Exception):
    """The object at the key is no longer the version the import started with."""


class _BodyStream(io.RawIOBase):
    """A botocore StreamingBody as a raw stream (so it can be buffered and decompressed)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


def report_key_of(key: str) -> str:
    return f"{key}.errors.csv"


def report_part_key(key: str, first_line: int) -> str:
    return f"{key}.errors.parts/{first_line:012d}.csv"


def csv_cell(value: str | None) -> str:
    text = "" if value is None else str(value)
    if any(c in text for c in ',"\r\n') or text[:1] in ("=", "+", "-", "@"):
        # Quoted, and a leading formula character made inert for spreadsheets.
        if text[:1] in ("=", "+", "-", "@") and not text[1:2].isdigit():
            text = "'" + text
        return '"' + text.replace('"', '""') + '"'
    return text


class ContactFileBucket:
    """`url_endpoint`: where presigned URLs point, when not at S3 itself (the local
    stack's moto server)."""

    def __init__(self, bucket: str, client: Any | None = None, url_endpoint: str = "") -> None:
        self.bucket = bucket
        self._client = client
        self._url_endpoint = url_endpoint
        self._url_client: Any | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    @property
    def url_client(self) -> Any:
        """The client that signs URLs: Signature v4, so a URL names its region."""
        if self._url_client is None:
            self._url_client = boto3.client(
                "s3",
                endpoint_url=self._url_endpoint or None,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if self._url_endpoint else "auto"},
                ),
            )
        return self._url_client

    # ------------------------------------------------------------------ URLs
    def upload_url(self, key: str) -> str:
        """A presigned PUT for exactly this key, valid URL_SECONDS."""
        return str(
            self.url_client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=URL_SECONDS,
            )
        )

    def download_url(self, key: str) -> str:
        return str(
            self.url_client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=URL_SECONDS,
            )
        )

    # ------------------------------------------------------------------ reading
    def head(self, key: str, tag: str) -> bytes:
        """The object's first bytes (to tell gzip), of the version `tag` names."""
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range="bytes=0-15", **_version(tag)
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "InvalidRange":
                return b""  # an empty object
            _raise_if_changed(error)
            raise
        return bytes(answer["Body"].read())

    def lines(self, key: str, tag: str, gzipped: bool, offset: int) -> Generator[bytes]:
        """The file's lines (each with its line ending) from `offset` bytes into its
        content (decompressed for gzip: a gzip stream cannot be entered in the middle, so
        the bytes before are read and dropped)."""
        ranged = offset > 0 and not gzipped
        try:
            answer = self.client.get_object(
                Bucket=self.bucket,
                Key=key,
                **({"Range": f"bytes={offset}-"} if ranged else {}),
                **_version(tag),
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "InvalidRange":
                return  # the offset is the end of the file
            _raise_if_changed(error)
            raise
        raw = io.BufferedReader(_BodyStream(answer["Body"]), READ_BUFFER)
        stream: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        with stream:
            if gzipped and offset:
                _skip(stream, offset)
            yield from bounded_lines(stream)

    # ------------------------------------------------------------------ reports
    def put_report_part(
        self, key: str, first_line: int, rows: Sequence[tuple[int, str | None, str]]
    ) -> None:
        """One batch's refused rows (line, phone as written, reason), as CSV lines."""
        body = "".join(
            f"{line},{csv_cell(phone)},{csv_cell(reason)}\r\n" for line, phone, reason in rows
        ).encode()
        self.client.put_object(
            Bucket=self.bucket,
            Key=report_part_key(key, first_line),
            Body=body,
            ContentType="text/csv",
        )

    def join_report(self, key: str, parts: Sequence[int]) -> str:
        """The parts, in order, as one `<key>.errors.csv` (then the parts deleted);
        returns its key. Written again whole if called again."""
        target = report_key_of(key)
        part_keys = [report_part_key(key, line) for line in sorted(parts)]
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=target, ContentType="text/csv"
        )
        upload_id = upload["UploadId"]
        try:
            done: list[dict[str, Any]] = []
            buffer = bytearray(REPORT_HEADER)
            for part_key in part_keys:
                body = self.client.get_object(Bucket=self.bucket, Key=part_key)["Body"]
                while chunk := body.read(READ_BUFFER):
                    buffer += chunk
                    if len(buffer) >= UPLOAD_PART_BYTES:
                        done.append(self._upload_part(target, upload_id, len(done) + 1, buffer))
                        buffer = bytearray()
            if buffer or not done:
                done.append(self._upload_part(target, upload_id, len(done) + 1, buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except Exception:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload_id)
            raise
        for start in range(0, len(part_keys), 1000):
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in part_keys[start : start + 1000]]},
            )
        return target

    def put_report(self, key: str, rows: Sequence[tuple[int, str | None, str]]) -> str:
        """A whole (short) report at once: a file refused before any row was read."""
        body = (
            REPORT_HEADER
            + "".join(
                f"{line},{csv_cell(phone)},{csv_cell(reason)}\r\n" for line, phone, reason in rows
            ).encode()
        )
        target = report_key_of(key)
        self.client.put_object(Bucket=self.bucket, Key=target, Body=body, ContentType="text/csv")
        return target

    def _upload_part(
        self, key: str, upload_id: str, number: int, data: bytes | bytearray
    ) -> dict[str, Any]:
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"ETag": answer["ETag"], "PartNumber": number}


def object_tag(version_id: str | None, etag: str | None) -> str:
    """How an import names the object version it reads: the version id if the bucket
    gave one, else the ETag."""
    if version_id and version_id != "null":
        return f"v:{version_id}"
    return f"e:{(etag or '').strip(chr(34))}"


def _version(tag: str) -> dict[str, str]:
    if tag.startswith("v:"):
        return {"VersionId": tag[2:]}
    return {"IfMatch": f'"{tag[2:]}"'} if tag[2:] else {}


def _raise_if_changed(error: ClientError) -> None:
    code = error.response.get("Error", {}).get("Code")
    if code in ("PreconditionFailed", "NoSuchKey", "NoSuchVersion", "412"):
        raise FileChanged(f"the file is gone or was replaced ({code})") from None


def _skip(stream: Any, count: int) -> None:
    left = count
    while left:
        chunk = stream.read(min(left, READ_BUFFER))
        if not chunk:
            return
        left -= len(chunk)
