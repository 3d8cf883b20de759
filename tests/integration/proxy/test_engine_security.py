"""Smuggling forms and header tricks over a real socket: each is refused before the upstream."""

from __future__ import annotations

import pytest

from enginekit import connect, get, proxy, read_response, read_until_closed, run, stand_in

H = b"POST /echo HTTP/1.1\r\nHost: a\r\n"
SMUGGLING = {
    "cl_te": H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
    "te_cl": H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    "dup_cl": H + b"Content-Length: 0\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    "cl_list": H + b"Content-Length: 5, 5\r\n\r\nhello",
    "cl_plus": H + b"Content-Length: +5\r\n\r\nhello",
    "te_not_last": H + b"Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_obs_fold": H + b"Transfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n",
    "te_space_colon": H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_underscore": H + b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
    "te_http10": b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare_lf": b"POST /echo HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello",
    "bare_cr_value": H + b"X-A: 1\rContent-Length: 5\r\n\r\nhello",
    "nul_value": H + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    "chunk_size_0x": H + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk_ext_lf": H + b"Transfer-Encoding: chunked\r\n\r\n5;x\nGET /admin\r\nhello\r\n0\r\n\r\n",
    "chunk_no_crlf": H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhelloGET /admin HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no_host": b"GET /echo HTTP/1.1\r\n\r\n",
    "encoded_slash": b"GET /public/..%2fadmin HTTP/1.1\r\nHost: a\r\n\r\n",
    "dot_params": b"GET /public/..;/admin HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_form_gets_400_and_close_and_reaches_nothing(raw):
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(raw)
            data = await read_until_closed(reader)  # the proxy closes the connection
            assert data.startswith(b"HTTP/1.1 400 ") and b"connection: close" in data.lower()
            assert b"\nHTTP/1.1 " not in data  # nothing after the error: no second response
            assert up.requests == [] and up.connections == 0

    run(scenario())


def test_connection_nominating_framing_headers_cannot_unframe_a_body():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(H + b"Content-Length: 45\r\nConnection: Content-Length, Host\r\n\r\n"
                         b"GET /admin HTTP/1.1\r\nHost: a\r\nX-A: 123456\r\n\r\n")
            response = await read_response(reader)
            assert response.json()["size"] == 45  # the body stayed a body
            seen = up.requests[0]
            assert seen.get(b"content-length") == b"45" and seen.get(b"host") is not None
            assert [r.target for r in up.requests] == [b"/echo"]
            writer.close()

    run(scenario())


def test_forged_forwarding_headers_from_untrusted_clients_are_overwritten():
    async def scenario():
        async with stand_in() as up, proxy(up.port) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/echo", b"X-Forwarded-For: 10.0.0.1", b"X-Real-IP: 10.0.0.1",
                             b"X-Forwarded-Proto: https", b"X-Forwarded-Host: admin.internal"))
            await read_response(reader)
            seen = up.requests[0]
            assert seen.get(b"x-forwarded-for") == b"127.0.0.1"
            assert seen.get(b"x-real-ip") == b"127.0.0.1"
            assert seen.get(b"x-forwarded-proto") == b"http"
            assert seen.get(b"x-forwarded-host") == b"proxy.test"
            writer.close()

    run(scenario())


def test_trusted_peer_forwarding_headers_are_kept():
    async def scenario():
        async with stand_in() as up, proxy(up.port, trusted_ips=("127.0.0.0/8",)) as (server, port):
            reader, writer = await connect(port)
            writer.write(get(b"/echo", b"X-Forwarded-For: 203.0.113.9", b"X-Real-IP: 203.0.113.9",
                             b"X-Forwarded-Proto: https"))
            await read_response(reader)
            seen = up.requests[0]
            assert seen.get(b"x-forwarded-for") == b"203.0.113.9, 127.0.0.1"
            assert seen.get(b"x-real-ip") == b"203.0.113.9"
            assert seen.get(b"x-forwarded-proto") == b"https"
            writer.close()

    run(scenario())


def test_response_header_injection_from_upstream_is_502():
    async def scenario():
        import asyncio

        async def evil(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: session=evil\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

        server = await asyncio.start_server(evil, "127.0.0.1", 0)
        async with proxy(server.sockets[0].getsockname()[1]) as (_, port):
            reader, writer = await connect(port)
            writer.write(get(b"/x"))
            response = await read_response(reader)
            assert response.status == 502 and b"evil" not in response.raw_head
            writer.close()
        server.close()

    run(scenario())
