"""
Paperwork's WeasyPrint worker: imports WeasyPrint ONCE, then renders HTML documents to PDF for as long as
its parent (lib/render/weasyprint.ts) keeps stdin open. Run it with Debian's /usr/bin/python3 (the only
interpreter that has the python3-weasyprint package).

Framing, both directions (all integers 4-byte big-endian):
    [header length][header: UTF-8 JSON][body length][body bytes]
    request  header {"id": n}                                   body: the HTML (UTF-8)
    response header {"id": n, "ok": true, "pages": p}          body: the PDF
             header {"id": n, "ok": false, "error": "..."}     body: empty
At start the worker sends one frame {"ready": true, "version": "..."} with an empty body.

Nothing but frames goes to the real stdout: the frame stream is a private duplicate of fd 1, and fd 1 itself
is pointed at stderr so stray prints or library output cannot corrupt the protocol. Every URL other than
data: is refused (fonts come from the system; the network is never used).
"""
import json
import os
import struct
import sys

frames = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr
requests = sys.stdin.buffer

import logging  # noqa: E402

import weasyprint  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402
from weasyprint.urls import default_url_fetcher  # noqa: E402

# WeasyPrint warns about every CSS property it ignores; keep only errors on stderr.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


def fetch_data_urls_only(url, *args, **kwargs):
    if url.startswith("data:"):
        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError("blocked (no network access from documents): " + url[:200])


def read_exact(n):
    chunks = []
    while n > 0:
        chunk = requests.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame():
    size = read_exact(4)
    if size is None:
        return None, None
    header = read_exact(struct.unpack(">I", size)[0])
    body_size = read_exact(4)
    if header is None or body_size is None:
        return None, None
    body = read_exact(struct.unpack(">I", body_size)[0])
    if body is None:
        return None, None
    return json.loads(header.decode("utf-8")), body


def send(header, body=b""):
    h = json.dumps(header).encode("utf-8")
    frames.write(struct.pack(">I", len(h)) + h + struct.pack(">I", len(body)))
    if body:
        frames.write(body)


def main():
    font_config = FontConfiguration()
    send({"ready": True, "version": weasyprint.__version__, "pid": os.getpid()})
    while True:
        header, body = read_frame()
        if header is None:
            return
        job = header.get("id")
        try:
            document = weasyprint.HTML(string=body.decode("utf-8"), url_fetcher=fetch_data_urls_only).render(font_config=font_config)
            pdf = document.write_pdf()
            send({"id": job, "ok": True, "pages": len(document.pages)}, pdf)
        except Exception as error:  # report and keep serving
            send({"id": job, "ok": False, "error": "%s: %s" % (type(error).__name__, error)})


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
