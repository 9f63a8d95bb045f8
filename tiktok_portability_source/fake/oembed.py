"""A fake of TikTok's public oEmbed endpoint (``GET https://www.tiktok.com/oembed?url=…``) for
``enrich``'s tests and the demo: deterministic per video id, served on loopback like the fake API.

Rules (``n`` = the video id as an integer; the knobs are ``OEmbedConfig``):

- the ``url`` parameter must be a video page URL ``https://www.tiktok.com/@<name>/video/<id>``
  (``<name>`` may be empty or a placeholder): anything else is 400, as TikTok answers a URL it
  cannot read;
- ``n % throttle_modulus == 0``: the first ``throttle_times`` requests for that id are 429 with
  ``Retry-After: retry_after`` (whole seconds), later ones are answered normally;
- ``n % dead_modulus == 0``: 404, a removed or private video;
- otherwise 200 with the oEmbed fields TikTok sends: ``version``, ``type``, ``title`` (the caption),
  ``author_url``, ``author_name`` (display name), ``author_unique_id`` (handle), ``html`` (the embed
  blockquote), ``width``/``height``, ``thumbnail_url``/``_width``/``_height``, ``provider_url``,
  ``provider_name``, ``embed_type``, ``embed_product_id`` (the video id). The values:
  handle ``creator_<n % 1000, 3 digits>``, display name ``Creator <n % 1000>``, caption
  ``clip <last 4 digits>`` plus, unless ``n % 3 == 0``, `` #FYP#<TOPIC>`` where TOPIC is
  ``TOPICS[n % 4]``.

The error body (``{"code": …, "message": "Something went wrong", "data": {}}``) is this fake's
choice: TikTok's documentation does not describe one, so clients must go by the status code alone.
Every request is counted (``calls``, ``hits(video_id)``) so tests can prove the cache works.

Usage::

    fake = FakeOEmbed()
    with fake.serve() as server:            # 127.0.0.1, a free port
        httpx.get(server.url + "/oembed", params={"url": "https://www.tiktok.com/@_/video/7…"})
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from .api import RunningServer

__all__ = ["TOPICS", "FakeOEmbed", "OEmbedConfig", "main"]

PATH = "/oembed"
TOPICS = ("Cats", "Cooking", "DanceChallenge", "Café")
_VIDEO_PAGE = re.compile(r"^https://www\.tiktok\.com/@[^/?#]*/video/(\d{1,25})/?$")


@dataclass
class OEmbedConfig:
    dead_modulus: int = 7  # ids divisible by it are 404 (0: none)
    throttle_modulus: int = 5  # ids divisible by it get throttle_times 429s first (0: none)
    throttle_times: int = 1
    retry_after: int = 2  # seconds, sent in Retry-After with every 429


class FakeOEmbed:
    """The endpoint as a WSGI app; ``serve()`` puts it on a loopback socket (the fake API's server)."""

    def __init__(self, config: OEmbedConfig | None = None) -> None:
        self.config = config or OEmbedConfig()
        self._lock = threading.Lock()
        self.calls: list[tuple[str, int]] = []  # (url parameter, status) of every request
        self._seen: Counter[str] = Counter()  # requests per video id

    def hits(self, video_id: str) -> int:
        with self._lock:
            return self._seen[video_id]

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
        return RunningServer(self, host, port)  # type: ignore[arg-type]  # it only needs wsgi_app

    def answer(self, path: str, query: str) -> tuple[int, dict[str, str], dict]:
        """(status, extra headers, JSON body) for one GET."""
        if path.rstrip("/") != PATH:
            return 404, {}, _error(404)
        url = (parse_qs(query).get("url") or [""])[0]
        match = _VIDEO_PAGE.match(url)
        video_id = match.group(1) if match else ""
        with self._lock:
            if video_id:
                self._seen[video_id] += 1
            seen = self._seen[video_id]
        status, headers, body = self._answer(video_id, seen)
        with self._lock:
            self.calls.append((url, status))
        return status, headers, body

    def _answer(self, video_id: str, seen: int) -> tuple[int, dict[str, str], dict]:
        c = self.config
        if not video_id:
            return 400, {}, _error(400)
        n = int(video_id)
        if c.throttle_modulus and n % c.throttle_modulus == 0 and seen <= c.throttle_times:
            return 429, {"Retry-After": str(c.retry_after)}, _error(429)
        if c.dead_modulus and n % c.dead_modulus == 0:
            return 404, {}, _error(404)
        return 200, {}, video(video_id)

    def wsgi_app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if str(environ.get("REQUEST_METHOD") or "GET").upper() != "GET":
            status, headers, body = 405, {"Allow": "GET"}, _error(405)
        else:
            status, headers, body = self.answer(environ.get("PATH_INFO") or "/", environ.get("QUERY_STRING") or "")
        data = json.dumps(body, ensure_ascii=False).encode()
        phrase = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  429: "Too Many Requests"}[status]
        start_response(f"{status} {phrase}", [("Content-Type", "application/json; charset=utf-8"),
                                              ("Content-Length", str(len(data))), *headers.items()])
        return [data]


def video(video_id: str) -> dict:
    """The 200 body for ``video_id`` (the rules in the module docstring)."""
    n = int(video_id)
    handle = f"creator_{n % 1000:03d}"
    caption = f"clip {video_id[-4:]}" + ("" if n % 3 == 0 else f" #FYP#{TOPICS[n % 4]}")
    page = f"https://www.tiktok.com/@{handle}/video/{video_id}"
    return {
        "version": "1.0", "type": "video", "title": caption,
        "author_url": f"https://www.tiktok.com/@{handle}", "author_name": f"Creator {n % 1000}",
        "author_unique_id": handle, "width": "100%", "height": "100%",
        "html": (f'<blockquote class="tiktok-embed" cite="{page}" data-video-id="{video_id}" '
                 f'style="max-width: 605px;min-width: 325px;" > <section> <a target="_blank" '
                 f'title="@{handle}" href="https://www.tiktok.com/@{handle}">@{handle}</a> '
                 f'<p>{caption}</p> </section> </blockquote> '
                 '<script async src="https://www.tiktok.com/embed.js"></script>'),
        "thumbnail_width": 576, "thumbnail_height": 1024,
        "thumbnail_url": f"https://p16-sign.tiktokcdn.example/obj/fake/{video_id}~tplv-noop.jpeg",
        "provider_url": "https://www.tiktok.com", "provider_name": "TikTok",
        "embed_type": "video", "embed_product_id": video_id,
    }


def _error(status: int) -> dict:
    return {"code": status, "message": "Something went wrong", "data": {}}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tiktok_portability_source.fake.oembed --port N``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="fake-oembed", description="Run the fake TikTok oEmbed endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(list(argv) if argv is not None else None)
    server = FakeOEmbed().serve(args.host, args.port)
    print(f"fake oEmbed on {server.url}{PATH}; Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
