"""Drives `wrangle mcp` with the official MCP Python SDK as a real client (tests/mcp.rs runs it).

usage: flow.py BINARY stdio MODE | flow.py BINARY http MODE URL TOKEN
MODE: auto (the SDK's default: server/discover, then the stateless revision), legacy (the
initialize handshake), or a handshake revision to pin (e.g. 2025-03-26).

It runs `python3 -m http.server` on a free port, waits for its log line and its port, searches
its logs, sends input to a `--stdin stream` entry, stops things, reads a log resource, and
checks every tool's structured output against the tool's own outputSchema.
"""

import asyncio
import json
import os
import socket
import sys
import tempfile
import urllib.request

import jsonschema
import mcp.client.session as session_mod
from mcp import Client, StdioServerParameters

TOOLS = {"list", "status", "run", "start", "stop", "restart", "remove", "signal", "send",
         "screen", "send_keys", "logs", "wait_for", "up", "down", "events"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def main():
    binary, transport, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    pinned = None
    if mode not in ("auto", "legacy"):
        # A client that speaks only this revision: its initialize asks for it.
        pinned = mode
        session_mod.LATEST_HANDSHAKE_VERSION = mode
        mode = "legacy"
    if transport == "stdio":
        server = StdioServerParameters(command=binary, args=["mcp"], env=dict(os.environ))
    else:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client
        url, token = sys.argv[4], sys.argv[5]
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(60, read=120))
        server = streamable_http_client(url, http_client=http)
    schemas = {}
    validated = set()

    async with Client(server, mode=mode, raise_exceptions=True) as c:
        version = c.protocol_version
        print("protocol", version)
        if pinned:
            assert version == pinned, (version, pinned)
        structured = pinned is None or pinned >= "2025-06-18"

        tools = await c.list_tools()
        names = {t.name for t in tools.tools}
        assert names == TOOLS, names
        for t in tools.tools:
            assert t.input_schema["type"] == "object", t.name
            if structured:
                assert t.output_schema is not None, t.name
                schemas[t.name] = t.output_schema
            if version >= "2025-03-26":
                assert t.annotations is not None, t.name

        async def call(name, args, ok=True):
            progress = []

            async def on_progress(p, total, message):
                progress.append(p)

            r = await c.call_tool(name, args, progress_callback=on_progress)
            text = "".join(x.text for x in r.content if x.type == "text")
            assert r.is_error == (not ok), (name, args, text)
            if ok and structured:
                assert r.structured_content is not None, name
                jsonschema.validate(r.structured_content, schemas[name])
                validated.add(name)
                return r.structured_content, text
            if ok:
                # Before 2025-06-18 the data rides in the text, after a summary line.
                return json.loads(text[text.index("\n{") + 1:]), text
            return None, text

        port = free_port()
        web, _ = await call("run", {
            "argv": [sys.executable, "-u", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            "name": f"web{port}", "tags": ["mcp-test"]})
        wid = web["entry"]["id"]
        assert web["entry"]["originator"].startswith("mcp:"), web
        w, _ = await call("wait_for", {"target": f"web{port}", "log": "Serving HTTP", "timeout_ms": 30000})
        assert w["until"] == "log"
        await call("wait_for", {"target": str(wid), "port": port, "timeout_ms": 30000})
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/probe-mcp")
        except Exception:
            pass  # 404 is what we want logged
        found = None
        for _ in range(100):
            found, text = await call("logs", {"target": str(wid), "grep": "GET /probe-mcp", "context": 1})
            if any(l["matched"] for l in found["lines"]):
                break
            await asyncio.sleep(0.1)
        assert any("probe-mcp" in l["text"] and l["matched"] for l in found["lines"]), found
        tail, _ = await call("logs", {"target": str(wid), "lines": 1})
        assert len(tail["lines"]) == 1 and tail["more"] is True, tail

        listed, _ = await call("list", {"tag": ["mcp-test"]})
        assert [e["id"] for e in listed["entries"]] == [wid], listed
        st, _ = await call("status", {"target": str(wid)})
        assert st["entries"][0]["state"] == "running"

        # Input to a --stdin stream entry.
        cat, _ = await call("run", {"command": "cat", "stdin": "stream", "name": f"cat{port}"})
        sent, _ = await call("send", {"target": f"cat{port}", "text": "hello from mcp\n"})
        assert sent["bytes"] == len("hello from mcp\n")
        await call("wait_for", {"target": f"cat{port}", "log": "hello from mcp"})
        await call("send", {"target": f"cat{port}", "eof": True})
        ended, _ = await call("wait_for", {"target": f"cat{port}", "until": "exit"})
        assert ended["exit_code"] == 0, ended
        await call("start", {"target": f"cat{port}"})
        await call("signal", {"target": f"cat{port}", "signal": "TERM"})
        await call("restart", {"target": f"cat{port}"})

        # A terminal entry: keys typed into bash, and its screen showing the answer.
        await call("run", {"command": "bash --norc --noprofile", "pty": True, "name": f"tty{port}"})
        await call("send_keys", {"target": f"tty{port}", "keys": ["echo $((6*7))x", "Enter"]})
        scr = None
        for _ in range(200):
            scr, _ = await call("screen", {"target": f"tty{port}"})
            if "42x" in [l.strip() for l in scr["lines"]]:
                break
            await asyncio.sleep(0.05)
        assert "42x" in [l.strip() for l in scr["lines"]], scr
        await call("remove", {"target": f"tty{port}"})

        # A wait that times out is a tool error that says what to do.
        _, text = await call("wait_for", {"target": f"cat{port}", "log": "never-printed", "timeout_ms": 300}, ok=False)
        assert "did not get to log" in text, text

        ev, _ = await call("events", {"target": str(wid)})
        assert any(e["kind"] == "started" for e in ev["events"]), ev
        ev2, _ = await call("events", {"target": str(wid), "cursor": ev["cursor"]})
        assert ev2["events"] == [], ev2

        # A log resource.
        res = await c.list_resources()
        uri = f"wrangle://entry/{wid}/log"
        assert uri in [str(r.uri) for r in res.resources], res
        body = await c.read_resource(uri)
        assert "Serving HTTP" in body.contents[0].text, body

        stopped, _ = await call("stop", {"target": str(wid)})
        assert stopped["results"][0]["outcome"] == "stopped", stopped
        await call("remove", {"targets": [str(wid), f"cat{port}"], "all": True})

        # Services: a Procfile, up then down.
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "Procfile"), "w") as f:
            f.write(f"svc{port}: sleep 300\n")
        up, _ = await call("up", {"file": os.path.join(d, "Procfile")})
        assert up["results"][0]["outcome"] in ("created", "started"), up
        down, _ = await call("down", {"file": os.path.join(d, "Procfile")})
        assert down["results"], down

        # Mistakes are tool errors, not dead servers.
        await call("logs", {"target": "no-such-entry"}, ok=False)
        await call("run", {}, ok=False)
        await call("list", {"bogus": 1}, ok=False)

        if structured:
            assert validated == TOOLS, TOOLS - validated
    print("OK", version)


asyncio.run(main())
