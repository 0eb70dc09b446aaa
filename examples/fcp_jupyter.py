"""A notebook server on a rented GPU, opened on your laptop through an SSH tunnel.

python examples/fcp_jupyter.py

The task starts Jupyter on port 8888 of the instance (or, where Jupyter is not installed, a plain
HTTP server on the same port, so the example runs anywhere); `flow.tunnel` forwards that port to
this machine, exactly as `flow tunnel TASK 8888` does on the command line. It runs against the FCP
emulator on loopback; `--real-cloud` (with FLOW_API_KEY) rents a real FCP instance.
"""

import sys
import time

import httpx

from flowlib.testing.emulators import REAL_CLOUD_FLAG, cloud_flow

REAL = REAL_CLOUD_FLAG in sys.argv[1:]  # spends money: an explicit flag, never a key in the env

SERVE = (
    "mkdir -p notebooks && cd notebooks && echo 'print(1)' > hello.py && "
    "if command -v jupyter >/dev/null; then "
    "exec jupyter lab --no-browser --port 8888 --ServerApp.token=''; "
    "else exec python3 -m http.server 8888 --bind 127.0.0.1; fi"
)


def wait_for(url: str, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


with cloud_flow("fcp", real=REAL) as flow:  # the emulator unless --real-cloud
    task = flow.run(SERVE, name="notebook", instance_type="a100", max_price_per_hour=2.50,
                    upload_code=False, max_run_time_hours=1)  # fmt: skip
    while flow.get_task(task.task_id).status.value == "pending":
        time.sleep(0.2)
    try:
        with flow.tunnel(task.task_id, 8888) as tunnel:
            url = f"http://127.0.0.1:{tunnel.local_port}/"
            page = wait_for(url)
            print(f"notebook server at {url}: HTTP {page.status_code}")
            assert page.status_code == 200 and "hello.py" in page.text
    finally:
        flow.cancel(task.task_id)  # the bid is released: nothing keeps billing
    print("cancelled:", flow.wait(task.task_id, timeout=60).status)
