#!/usr/bin/env python3
"""admin_http.py -- the HTTP side of t_admin_http.sh (standard library only).

  admin_http.py req PORT METHOD PATH [BODY] [--token T] [--header 'K: V']
      prints the status code on the first line, then the response body
  admin_http.py json EXPR            reads JSON on stdin, prints eval(EXPR)
                                     with the document bound to j
  admin_http.py metrics PORT         fetches /metrics, checks the text format
                                     strictly (its own reader; and promtool
                                     check metrics when installed), prints
                                     one "series value" line per sample
  admin_http.py raw PORT BYTES_REPR  sends raw bytes (a Python bytes literal),
                                     prints the status line received, or
                                     "closed" when the server just closed
  admin_http.py proxy LISTEN_PORT TARGET_PORT
                                     a TCP proxy (runs until killed)
"""
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import threading

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def req(port, method, path, body=None, headers=()):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    hdrs = {}
    for h in headers:
        k, v = h.split(":", 1)
        hdrs[k.strip()] = v.strip()
    c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
    r = c.getresponse()
    data = r.read()
    allow = r.getheader("Allow")
    auth = r.getheader("WWW-Authenticate")
    ctype = r.getheader("Content-Type") or ""
    c.close()
    return r.status, data, ctype, allow, auth


def check_exposition(text):
    """Returns [(name, labels dict, series text, value)]; raises on any error."""
    families = {}  # name -> {"help", "type", "done"}
    current = None
    samples = []
    seen = set()
    if not text.endswith("\n"):
        raise ValueError("no final line feed")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            raise ValueError(f"line {n}: empty line")
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+) (.+)$", line)
            if not m or not NAME.match(m.group(2)):
                raise ValueError(f"line {n}: bad comment {line!r}")
            kind, name, rest = m.groups()
            f = families.setdefault(name, {"help": None, "type": None, "done": False})
            if kind == "HELP":
                if f["help"] is not None or f["type"] is not None:
                    raise ValueError(f"line {n}: HELP of {name} twice or after TYPE")
                f["help"] = rest
            else:
                if f["type"] is not None or rest not in TYPES:
                    raise ValueError(f"line {n}: bad or second TYPE of {name}")
                if rest == "counter" and not name.endswith("_total"):
                    raise ValueError(f"line {n}: counter {name} without _total")
                f["type"] = rest
            if current is not None and current != name:
                families[current]["done"] = True
            current = name
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            raise ValueError(f"line {n}: bad sample {line!r}")
        name, _, labeltext, value = m.groups()
        labels = {}
        if labeltext is not None:
            pos = 0
            while pos < len(labeltext):
                lm = LABEL.match(labeltext, pos)
                if not lm:
                    raise ValueError(f"line {n}: bad labels {labeltext!r}")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(labeltext):
                    if labeltext[pos] != ",":
                        raise ValueError(f"line {n}: bad labels {labeltext!r}")
                    pos += 1
        v = float(value)  # accepts +Inf, NaN
        fam = name
        if fam not in families:
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[: -len(suffix)] if name.endswith(suffix) else None
                if base and families.get(base, {}).get("type") == "histogram":
                    fam = base
        f = families.get(fam)
        if not f or not f["type"] or not f["help"]:
            raise ValueError(f"line {n}: {name} without HELP and TYPE")
        if fam != current or f["done"]:
            raise ValueError(f"line {n}: samples of {fam} not in one group")
        if f["type"] == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise ValueError(f"line {n}: bucket without le")
        series = line.rsplit(" ", 1)[0]
        if series in seen:
            raise ValueError(f"line {n}: series {series} twice")
        seen.add(series)
        samples.append((name, labels, series, v))
    # histograms: cumulative buckets ending in +Inf = _count
    hist = {}
    for name, labels, series, v in samples:
        if name.endswith("_bucket"):
            key = (name[:-7], tuple(sorted((k, x) for k, x in labels.items() if k != "le")))
            hist.setdefault(key, []).append((float(labels["le"]), v))
    for (base, key), buckets in hist.items():
        les = [le for le, _ in buckets]
        counts = [c for _, c in buckets]
        if les != sorted(les) or les[-1] != float("inf") or counts != sorted(counts):
            raise ValueError(f"histogram {base}{key}: buckets not cumulative or no +Inf")
        count = [v for name, labels, s, v in samples if name == base + "_count"
                 and tuple(sorted(labels.items())) == key]
        if count != [counts[-1]]:
            raise ValueError(f"histogram {base}{key}: _count != +Inf bucket")
    return samples


def main():
    cmd = sys.argv[1]
    if cmd == "req":
        args = sys.argv[2:]
        headers = []
        rest = []
        i = 0
        while i < len(args):
            if args[i] == "--token":
                headers.append("Authorization: Bearer " + args[i + 1])
                i += 2
            elif args[i] == "--header":
                headers.append(args[i + 1])
                i += 2
            else:
                rest.append(args[i])
                i += 1
        port, method, path = rest[:3]
        body = rest[3] if len(rest) > 3 else None
        if body is not None and body.startswith("@size:"):
            body = b"x" * int(body[6:])
        status, data, ctype, allow, auth = req(port, method, path, body, headers)
        print(status)
        if allow:
            print("Allow: " + allow, file=sys.stderr)
        if auth:
            print("WWW-Authenticate: " + auth, file=sys.stderr)
        if status >= 400 and "json" in ctype:
            doc = json.loads(data)  # every error we send is JSON: {"error", "code"}
            if path != "/health":  # whose 503 has the shape of its 200
                assert isinstance(doc.get("error"), str) and isinstance(doc.get("code"), str), doc
        sys.stdout.write(data.decode("utf-8", "replace"))
    elif cmd == "json":
        j = json.load(sys.stdin)
        print(eval(sys.argv[2], {"j": j}))
    elif cmd == "metrics":
        status, data, ctype, _, _ = req(sys.argv[2], "GET", "/metrics")
        if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
            sys.exit(f"GET /metrics: {status} {ctype}")
        text = data.decode("utf-8")
        check_exposition(text)
        promtool = shutil.which("promtool")
        if promtool:
            p = subprocess.run([promtool, "check", "metrics"], input=text, text=True, capture_output=True)
            if p.returncode != 0:
                sys.exit("promtool check metrics: " + p.stdout + p.stderr)
            print("# checked by promtool and by admin_http.py", file=sys.stderr)
        else:
            print("# checked by admin_http.py (promtool not installed)", file=sys.stderr)
        for line in text.splitlines():
            if not line.startswith("#"):
                print(line)
    elif cmd == "raw":
        s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20)
        s.sendall(eval(sys.argv[3]))
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        print(data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed")
    elif cmd == "proxy":
        listen, target = int(sys.argv[2]), int(sys.argv[3])
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", listen))
        srv.listen(64)

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        print("listening", flush=True)
        while True:
            c, _ = srv.accept()
            try:
                u = socket.create_connection(("127.0.0.1", target))
            except OSError:
                c.close()
                continue
            threading.Thread(target=pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    elif cmd == "free-port":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
