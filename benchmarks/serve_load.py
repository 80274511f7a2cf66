"""Load on ``mgmrn serve``: eight concurrent clients posting images to a real uvicorn server,
against an in-process ``Predictor`` on the same images.

The server is ``mgmrn serve`` in a subprocess on 127.0.0.1; its clients are threads of this
process, each with its own keep-alive HTTP connection, posting the images in turn to
``/api/predict``, for ``--seconds`` in all. In process, the same number of threads hand the
same images to one worker thread that runs what the server runs per request,
``rank(load_image(file))``. The two alternate in windows of ``--window`` seconds, so that a
machine busy with other work weighs on both alike. Reported: requests, errors (any answer
but 200), the server's resident memory after the warm-up, at the end and at its peak
(sampled each second), latency per request (p50, p95) and wall time per request.

Before the load, one image at a time (image by image, in turn): in process in this thread
and on a worker thread (on a CPU busy with other processes, OpenMP's spin-waiting can make
the main thread's team several times slower; ``OMP_WAIT_POLICY=passive`` evens them), and
one client of the server. Target (issue 24): one client's p50 at most 1.3x the in-process
time for one image (the faster of the two). Under load the model serves one request at a
time, so latency grows with the queue, in process as in the server.

Model: ``--preset``'s (default ``cub100``: frozen pretrained Lite0 at 224x224, 3 stages,
hidden 512) after one epoch on a tiny set shaped like CUB (312 attributes), so that its heads
cost what CUB's do. Images: ``--images`` (default the CUB-100 photos in
``../shared/data/cub100/images``), else that set's.

    .venv/bin/python benchmarks/serve_load.py                  # 60 s of load on each side
    .venv/bin/python benchmarks/serve_load.py --seconds 20     # shorter
"""

from __future__ import annotations

import argparse
import http.client
import io
import itertools
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import _bench
from _tiny_run import MGMRN, run_images, tiny_run

from mgmrn.data.images import find_images
from mgmrn.inference.predictor import Predictor

CUB100_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cub100" / "images"
BOUNDARY = "mgmrn-serve-load"
Send = Callable[[str, bytes], int]  # posts one image (name, bytes): the HTTP status


def start_server(run: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """``mgmrn serve RUN`` on a free port, once ``/health`` answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("w") as handle:
        server = subprocess.Popen([*MGMRN, "serve", str(run), "--port", str(port)], stdout=handle,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if json.loads(connection.getresponse().read()) == {"status": "ok"}:
                return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def http_client(port: int) -> Send:
    """A client of the server on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def send(name: str, data: bytes) -> int:
        head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        connection.request("POST", "/api/predict", head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode(),
                           {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        answer = connection.getresponse()
        answer.read()
        return answer.status

    return send


def in_process(predictor: Predictor, worker: ThreadPoolExecutor | None) -> Send:
    """What the server runs per request, in this thread or handed to ``worker``."""

    def rank(data: bytes) -> int:
        predictor.rank(predictor.load_image(io.BytesIO(data))[None], 5)
        return 200

    return lambda name, data: rank(data) if worker is None else worker.submit(rank, data).result()


def timed(send: Send, name: str, data: bytes) -> tuple[float, int | str]:
    """Seconds and the status (or the exception) of one request."""
    start = time.perf_counter()
    try:
        status: int | str = send(name, data)
    except (OSError, http.client.HTTPException) as exc:
        status = f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - start, status


def load(clients: list[Send], images: list[tuple[str, bytes]], seconds: float) -> tuple[list[float], list[str], float]:
    """Each client posting the images in turn (from its own offset) for ``seconds``:
    latencies of the answered requests, the errors, and the wall time."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def work(index: int) -> None:
        for name, data in itertools.islice(itertools.cycle(images), index * len(images) // len(clients), None):
            if time.monotonic() >= end:
                return
            took, status = timed(clients[index], name, data)
            with lock:
                if status == 200:
                    latencies.append(took)
                else:
                    errors.append(str(status))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.monotonic() - start


class MemorySampler(threading.Thread):
    """The resident memory (MB) of process ``pid``, sampled each second until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.samples = [self.rss()]

    def rss(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.samples.append(self.rss())

    def stop(self) -> list[float]:
        self.done.set()
        self.join()
        self.samples.append(self.rss())
        return self.samples


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    return 1000 * statistics.median(seconds), 1000 * statistics.quantiles(seconds, n=100, method="inclusive")[94]


def one_at_a_time(senders: dict[str, Send], images: list[tuple[str, bytes]], rounds: int) -> dict[str, list[float]]:
    """Seconds per image of each sender, image by image in turn (after one warm-up each)."""
    for send in senders.values():
        timed(send, *images[0])
    times: dict[str, list[float]] = {mode: [] for mode in senders}
    for _, image in itertools.product(range(rounds), images):
        for mode, send in senders.items():
            took, status = timed(send, *image)
            assert status == 200, status
            times[mode].append(took)
    return times


def alternate(sides: dict[str, Callable[[], Send]], clients: int, images: list[tuple[str, bytes]],
              seconds: float, window: float) -> dict[str, tuple[list[float], list[str], float]]:
    """Load on each side for ``seconds`` in all, in alternating windows: latencies, errors, wall time."""
    totals: dict[str, tuple[list[float], list[str], float]] = {side: ([], [], 0.0) for side in sides}
    for _, (side, client) in itertools.product(range(max(1, round(seconds / window))), sides.items()):
        latencies, errors, wall = load([client() for _ in range(clients)], images, window)
        totals[side] = (totals[side][0] + latencies, totals[side][1] + errors, totals[side][2] + wall)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load on each side, in all (default 60)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each alternated window (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--images", type=Path, default=CUB100_IMAGES, help="folder of images to post")
    parser.add_argument("--count", type=int, default=32, help="images posted in turn (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images one at a time (default 3)")
    parser.add_argument("--preset", default="cub100", help="the model served (default cub100)")
    args = parser.parse_args()
    print(_bench.machine_line(_bench.machine()))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = tiny_run(args.preset, work)
        found = find_images([str(args.images)]) if args.images.is_dir() else run_images(run)
        paths = found[:: max(1, len(found) // args.count)][: args.count]  # spread over the classes
        images = [(Path(p).name, Path(p).read_bytes()) for p in paths]
        predictor, worker = Predictor(run), ThreadPoolExecutor(max_workers=1)
        server, port = start_server(run, work / "serve.log")
        try:
            one = one_at_a_time({"in process, main thread": in_process(predictor, None),
                                 "in process, worker thread": in_process(predictor, worker),
                                 "server, one client": http_client(port)}, images, args.rounds)
            memory = MemorySampler(server.pid)
            memory.start()
            many = alternate({"in process": lambda: in_process(predictor, worker), "server": lambda: http_client(port)},
                             args.clients, images, args.seconds, args.window)
            rss = memory.stop()
        finally:
            server.terminate()
            server.wait(30)
            worker.shutdown()
    print(f"images: {len(images)} from {Path(paths[0]).parents[1]}, mean {statistics.mean(len(d) for _, d in images) / 1024:.0f} KB")
    base = min(statistics.median(one["in process, main thread"]), statistics.median(one["in process, worker thread"]))
    print(_bench.table(["one image at a time", "p50 ms", "p95 ms", "p50 vs in process (faster)"], [
        [mode, *(f"{v:.1f}" for v in percentiles(times)), f"{statistics.median(times) / base:.2f}x"]
        for mode, times in one.items()]))
    print()
    print(_bench.table([f"{args.clients} clients", "requests", "errors", "p50 ms", "p95 ms", "wall ms / request"], [
        [side, len(latencies) + len(errors), len(errors), *(f"{v:.1f}" for v in percentiles(latencies)),
         f"{1000 * wall / (len(latencies) + len(errors)):.1f}"] for side, (latencies, errors, wall) in many.items()]))
    print(f"server: errors {many['server'][1][:3] or 'none'}; resident memory {rss[0]:.0f} MB at the start, "
          f"{rss[-1]:.0f} MB at the end, peak {max(rss):.0f} MB")
    ratio = statistics.median(one["server, one client"]) / base
    print(f"target: one client's p50 <= 1.3x the faster in-process p50: {ratio:.2f}x "
          f"({'met' if ratio <= 1.3 else 'not met'})")
    print(f"reproduce: {_bench.command()}")


if __name__ == "__main__":
    main()
