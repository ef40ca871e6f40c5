"""A minimal Hub-compatible HTTP server, enough for create_repo + upload_folder (regular uploads).

No working local Hub server exists for huggingface_hub here (../shared/docs/stack-notes.md), so the
real client is exercised up to the network boundary: requests are recorded for the test to inspect.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HubStub:
    """``with HubStub() as hub: HfApi(endpoint=hub.url)...``; ``hub.requests``, ``hub.files``."""

    def __init__(self):
        self.requests: list[dict] = []  # method, path, headers
        self.files: dict[str, bytes] = {}  # path in repo -> content of the last commit
        self.repos: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _reply(self, payload, code=200):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                stub.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                self._reply({"error": f"not in stub: GET {self.path}"}, 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers)})
                if self.path == "/api/repos/create":
                    spec = json.loads(body)
                    stub.repos.append(spec)
                    name = f"{spec.get('organization')}/{spec['name']}" if spec.get("organization") else spec["name"]
                    return self._reply({"url": f"{stub.url}/{name}", "name": name, "id": "stub"})
                if self.path == "/api/validate-yaml":  # model card metadata check
                    return self._reply({"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                  for f in files]})
                if "/commit/" in self.path:
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item.get("key") == "file":
                            stub.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    repo = self.path.split("/api/models/")[1].split("/commit/")[0]
                    return self._reply({"commitUrl": f"{stub.url}/{repo}/commit/0123abcd", "commitOid": "0123abcd" * 5,
                                        "pullRequestUrl": None})
                self._reply({"error": f"not in stub: POST {self.path}"}, 404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HubStub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
