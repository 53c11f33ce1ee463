"""Request framing (berth.api.http.parser): llhttp's verdicts, and reads that never go
past the end of the request (what follows belongs to a hijacked stream or the next
request)."""

from __future__ import annotations

import asyncio

import pytest

from berth.api.http.parser import MAX_HEAD, FramingError, Head, MessageReader


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    r = asyncio.StreamReader(limit=MAX_HEAD)
    r.feed_data(data)
    if eof:
        r.feed_eof()
    return r


async def _frame(data: bytes) -> tuple[Head | None, bytes, bytes]:
    """(head, body, what is left in the reader afterwards)."""
    r = _reader(data)
    m = MessageReader(r)
    head = await m.head()
    body = b"".join([c async for c in m.body()]) if head is not None else b""
    return head, body, await r.read()


def frame(data: bytes) -> tuple[Head | None, bytes, bytes]:
    return asyncio.run(_frame(data))


def refused(data: bytes) -> FramingError:
    with pytest.raises(FramingError) as info:
        frame(data)
    return info.value


def test_a_head_with_lower_case_names_and_joined_repeats() -> None:
    head, body, rest = frame(
        b"GET /v1.50/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nx-multi: b\r\n\r\n"
    )
    assert head == Head(
        "GET", "/v1.50/containers/json?all=1", "1.1", {"host": "x", "x-multi": "a, b"}, True, False
    )
    assert (body, rest) == (b"", b"")


def test_keep_alive_as_http_says() -> None:
    assert frame(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")[0].keep_alive is False  # type: ignore[union-attr]
    assert frame(b"GET / HTTP/1.0\r\n\r\n")[0].keep_alive is False  # type: ignore[union-attr]
    assert frame(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")[0].keep_alive is True  # type: ignore[union-attr]


def test_content_length_body_stops_at_its_end() -> None:
    head, body, rest = frame(b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloRAW-STREAM")
    assert (body, rest) == (b"hello", b"RAW-STREAM")


def test_chunked_body_with_extensions_and_trailers_stops_at_its_end() -> None:
    data = (
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=v\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    )
    head, body, rest = frame(data)
    assert (body, rest) == (b"hello!", b"NEXT")


def test_an_upgrade_keeps_its_body_and_leaves_the_stream_alone() -> None:
    data = (
        b"POST /exec/x/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}stdin bytes"
    )
    head, body, rest = frame(data)
    assert head is not None and head.upgrade
    assert (body, rest) == (b"{}", b"stdin bytes")


def test_an_upgrade_with_a_chunked_body() -> None:
    data = (
        b"POST /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\nraw"
    )
    head, body, rest = frame(data)
    assert (body, rest) == (b"{}", b"raw")


def test_bytes_trickling_in_one_at_a_time() -> None:
    data = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nafter"

    async def go() -> tuple[bytes, bytes]:
        r = asyncio.StreamReader()
        m = MessageReader(r)

        async def feed() -> None:
            for i in range(len(data)):
                r.feed_data(data[i : i + 1])
                await asyncio.sleep(0)
            r.feed_eof()

        t = asyncio.create_task(feed())
        assert await m.head() is not None
        body = b"".join([c async for c in m.body()])
        await t
        return body, await r.read()

    assert asyncio.run(go()) == (b"abc", b"after")


def test_a_large_body_is_streamed_in_pieces() -> None:
    big = b"x" * (1 << 20)

    async def go() -> list[int]:
        r = _reader(b"PUT /a HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
        m = MessageReader(r)
        await m.head()
        return [len(c) async for c in m.body(chunk_size=1 << 16)]

    sizes = asyncio.run(go())
    assert sum(sizes) == len(big) and max(sizes) <= 1 << 16


def test_a_client_that_closes_before_a_head_is_no_request() -> None:
    assert frame(b"")[0] is None
    assert frame(b"GET / HTTP/1.1\r\nHost:")[0] is None
    # bare LFs never end a head: such a client waits for the idle timeout, as before
    assert frame(b"GET / HTTP/1.1\nHost: x\n\n")[0] is None


@pytest.mark.parametrize(
    "data,text",
    [
        (b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", "Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", "Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", "Content-Length"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "Duplicate"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "Duplicate"),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "Transfer-Encoding",
        ),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", "Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "chunk"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "chunk"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "end of request body"),
        (b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "malformed"),
        (b"GET / HTTP/1.1\r\nX Y: a\r\n\r\n", "malformed"),
        (b"GET / HTTP/1.1\r\nContent-Length : 0\r\n\r\n", "malformed"),
        (b"GET / HTTP/1.1\r\nHost: x\nY: z\r\n\r\n", "malformed"),
        (b"hello\r\n\r\n", "malformed"),
        (b"GET / HTTP/9.9\r\n\r\n", "malformed"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "malformed"),
    ],
)
def test_what_llhttp_refuses_is_a_400(data: bytes, text: str) -> None:
    err = refused(data)
    assert err.status == 400
    assert text in err.message


def test_a_head_over_the_limit_is_a_431() -> None:
    assert refused(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n").status == 431
    many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 900) for i in range(80))
    assert refused(b"GET / HTTP/1.1\r\n" + many + b"\r\n").status == 431
    # just under the limit is fine
    assert frame(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD - 100) + b"\r\n\r\n")[0] is not None


def test_a_body_read_has_a_deadline_only_while_it_waits() -> None:
    async def go() -> tuple[float | None, float | None, float | None]:
        r = _reader(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc", eof=False)
        m = MessageReader(r, body_timeout=30)
        await m.head()
        body = m.body()
        assert await body.__anext__() == b"abc"
        before = m.deadline
        waiting = asyncio.ensure_future(body.__anext__())
        await asyncio.sleep(0)
        during = m.deadline
        r.feed_data(b"def")
        assert await waiting == b"def"
        return before, during, m.deadline

    before, during, after = asyncio.run(go())
    assert before is None and after is None
    assert during is not None
