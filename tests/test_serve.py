"""``mgmrn serve``'s app through FastAPI's test client: every endpoint against the library it
serves (Predictor, explain, class-attribute CSVs), every kind of bad input (a 4xx with one
line of JSON, and the server goes on), concurrent clients, and the command line."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import numpy as np
import pytest
import tomllib
from conftest import REQUIRED
from PIL import Image

if importlib.util.find_spec("fastapi") is None:
    MISSING = 'the serve extra is not installed (pip install -e ".[test]")'
    if REQUIRED:
        pytest.fail(f"{MISSING}, and MGMRN_REQUIRE_DATA is set", pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)

import httpx2 as httpx  # noqa: E402 - the test extra's HTTP client (starlette's test client uses it)
from fastapi.testclient import TestClient  # noqa: E402

from mgmrn.cli.main import main  # noqa: E402
from mgmrn.data.folder import read_class_attributes  # noqa: E402
from mgmrn.inference.classes import ClassSet  # noqa: E402
from mgmrn.inference.predictor import Predictor  # noqa: E402
from mgmrn.serve.app import create_app  # noqa: E402
from mgmrn.serve.uploads import MAX_UPLOAD_BYTES  # noqa: E402
from mgmrn.viz.attention import explain, render  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_DEFINED = 3
LOCAL = "http://localhost"  # the test client's address (not its default, testserver: a name not answered)


@pytest.fixture(scope="module")
def run_dir(demo_run: Path) -> Path:
    return demo_run  # the shared tiny run (conftest), 2 stages: attention on own and SCAB tokens


@pytest.fixture(scope="module")
def predictor(run_dir: Path) -> Predictor:
    return Predictor(run_dir)


@pytest.fixture(scope="module")
def images(run_dir: Path) -> list[Path]:
    return sorted((run_dir.parent / "data").rglob("images/*/*.png"))


@pytest.fixture
def client(predictor: Predictor):
    """A fresh server (no defined classes) on the run."""
    with TestClient(create_app(predictor, max_defined=MAX_DEFINED), base_url=LOCAL) as test_client:
        yield test_client


def post_image(client: TestClient, url: str, data: bytes, name: str = "photo.png", **fields: str):
    return client.post(url, files={"image": (name, data, "image/png")}, data=fields)


def classes_of(predictor: Predictor, names: list[str], values: np.ndarray) -> ClassSet:
    """The library's own class set of classes given by attributes."""
    return ClassSet.described(predictor.run, names, values)


def assert_same_ranking(got: list[dict], expected: list[dict]) -> None:
    assert [t["class"] for t in got] == [t["class"] for t in expected]
    assert [t["seen"] for t in got] == [t["seen"] for t in expected]
    # the CLI scores the images as one batch, the server one at a time: float32 rounding of
    # scores up to model.scale (20) differs by a few 1e-6 between the two
    for key in ("probability", "score"):
        assert [t[key] for t in got] == pytest.approx([t[key] for t in expected], rel=1e-5, abs=1e-4)


def test_an_upload_reads_as_its_file(predictor: Predictor, images: list[Path]):
    """The in-memory entry point: Predictor.load_image takes an open binary file."""
    from_file = predictor.load_image(images[0])
    assert (predictor.load_image(io.BytesIO(images[0].read_bytes())) == from_file).all()


def test_predict_answers_as_mgmrn_predict_json(client: TestClient, run_dir: Path, images: list[Path], capsys):
    k = len(client.get("/api/classes").json()["run"])
    assert main(["predict", str(run_dir), *map(str, images[:3]), "--json", "--top-k", str(k)]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for path, result in zip(images, expected):
        answer = post_image(client, "/api/predict", path.read_bytes(), top_k=str(k))
        assert answer.status_code == 200
        assert list(answer.json()) == ["top"] and set(answer.json()["top"][0]) == {"class", "probability", "score",
                                                                                   "seen"}
        assert_same_ranking(answer.json()["top"], result["top"])
    assert len(post_image(client, "/api/predict", images[0].read_bytes()).json()["top"]) == 5  # the default


def test_health_classes_and_attributes(client: TestClient, predictor: Predictor):
    assert client.get("/health").json() == {"status": "ok"}
    listing = client.get("/api/classes").json()
    assert listing == {"run": [{"name": n, "seen": bool(s)} for n, s in zip(predictor.classes.names,
                                                                            predictor.classes.seen)],
                       "defined": [], "max_defined": MAX_DEFINED}
    assert client.get("/api/attributes").json() == {"attributes": predictor.attribute_names}


def test_the_page_and_its_files_are_served_from_the_package(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("static/style.css", "static/app.js"):
        assert asset in page.text
        assert client.get(f"/{asset}").status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mgmrn"]
    static = [p.relative_to(ROOT / "src" / "mgmrn").as_posix() for p in (ROOT / "src/mgmrn/serve/static").iterdir()]
    assert static and all(any(fnmatch(f, pattern) for pattern in package_data) for f in static)


def test_explain_draws_what_mgmrn_attention_draws(client: TestClient, predictor: Predictor, images: list[Path]):
    name = predictor.classes.names[-1]
    answer = post_image(client, "/api/explain", images[0].read_bytes(), **{"class": name, "top_k": "3"})
    assert answer.status_code == 200
    expected = explain(predictor, images[0], class_name=name, top_k=3)
    body = answer.json()
    png = Image.open(io.BytesIO(base64.b64decode(body.pop("png"))))
    assert body == {k: v for k, v in expected.to_dict().items() if k != "image"}
    assert png.size == render(expected, 112).size
    assert post_image(client, "/api/explain", images[0].read_bytes()).json()["predicted"] is True


def test_defined_classes_rank_as_the_predictor_ranks_them(client: TestClient, predictor: Predictor, run_dir: Path,
                                                         images: list[Path]):
    names = predictor.attribute_names
    values = np.zeros((2, len(names)))
    values[0, :3], values[1, 2:6] = [1.0, 0.5, 2.0], [0.3, 1.0, 1.0, 0.25]
    definition = [{"name": f"new {i}", "attributes": {names[j]: v[j] for j in np.flatnonzero(v)}}
                  for i, v in enumerate(values)]
    listing = client.post("/api/classes", json={"classes": definition})
    assert listing.status_code == 200 and listing.json()["defined"] == definition
    own = classes_of(predictor, ["new 0", "new 1"], values)
    image = images[1].read_bytes()
    among_defined = post_image(client, "/api/predict", image, among="defined").json()["top"]
    assert_same_ranking(among_defined, predictor.predict([images[1]], classes=own)[0]["top"])
    # both: the run's classes scored as among them (gamma off the seen ones), the new ones as new
    k = len(predictor.classes) + 2
    both = {t["class"]: t for t in post_image(client, "/api/predict", image, among="both", top_k=str(k)).json()["top"]}
    run = post_image(client, "/api/predict", image, top_k=str(k)).json()["top"]
    assert len(both) == k and sum(t["probability"] for t in both.values()) == pytest.approx(1.0, abs=1e-5)
    for t in [*run, *among_defined]:
        assert (both[t["class"]]["score"], both[t["class"]]["seen"]) == (pytest.approx(t["score"], abs=1e-5), t["seen"])
    explained = post_image(client, "/api/explain", image, among="defined", **{"class": "new 1"}).json()
    assert explained["class"] == "new 1"


def test_a_class_attribute_csv_defines_classes_as_predict_classes_reads_it(client: TestClient, run_dir: Path,
                                                                          images: list[Path], tmp_path: Path, capsys):
    names = client.get("/api/attributes").json()["attributes"]
    columns = names[::-1]  # any column order
    rows = [["a_csv_class", *np.linspace(0, 1, len(names)).round(3)], ["another", *np.linspace(1, 0, len(names))]]
    text = "\n".join([",".join(["class", *columns]), *(",".join(map(str, r)) for r in rows)]) + "\n"
    (tmp_path / "new.csv").write_text(text)
    answer = client.post("/api/classes/csv", files={"file": ("new.csv", text.encode(), "text/csv")})
    assert answer.status_code == 200
    assert [c["name"] for c in answer.json()["defined"]] == ["a_csv_class", "another"]
    assert main(["predict", str(run_dir), str(images[2]), "--classes", str(tmp_path / "new.csv"), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert_same_ranking(post_image(client, "/api/predict", images[2].read_bytes(), among="defined").json()["top"],
                        expected["top"])
    assert read_class_attributes(Path("x.csv"), text)[0] == read_class_attributes(tmp_path / "new.csv")[0]


def test_defined_classes_are_bounded_replaced_by_name_and_deleted(client: TestClient, predictor: Predictor):
    attribute = predictor.attribute_names[0]

    def define(*names: str):
        return client.post("/api/classes", json={"classes": [{"name": n, "attributes": {attribute: 1}} for n in names]})

    assert define("a", "b", "c").status_code == 200
    too_many = define("a", "d")  # a is replaced, d would be a fourth
    assert too_many.status_code == 400 and f"at most {MAX_DEFINED} classes" in too_many.json()["error"]
    assert [c["name"] for c in client.get("/api/classes").json()["defined"]] == ["a", "b", "c"]  # all or none
    assert [c["name"] for c in client.delete("/api/classes/b").json()["defined"]] == ["a", "c"]
    assert define("a", "d").status_code == 200
    assert client.delete("/api/classes/b").json() == {"error": "no defined class 'b'"}


def png_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, format="PNG")
    return buffer.getvalue()


def chunks(total: int):
    """A request body of ``total`` bytes sent without a Content-Length (chunked)."""
    for _ in range(total // (1 << 20)):
        yield b"x" * (1 << 20)


BAD = {
    "text, not an image": (lambda c, p: post_image(c, "/api/predict", b"hello", "notes.txt"),
                           400, "notes.txt: not an image file"),
    "damaged image": (lambda c, p: post_image(c, "/api/predict", png_bytes()[:120], "cut.png"),
                      400, "cut.png: "),
    "empty upload": (lambda c, p: post_image(c, "/api/predict", b"", "empty.png"), 400, "empty.png: not an image"),
    "upload above the limit": (lambda c, p: post_image(c, "/api/predict", b"x" * (MAX_UPLOAD_BYTES + 1)),
                               413, f"upload limit ({MAX_UPLOAD_BYTES:,} bytes)"),
    "unannounced body above the limit": (
        lambda c, p: c.post("/api/predict", content=chunks(MAX_UPLOAD_BYTES + (1 << 20)),
                            headers={"content-type": "multipart/form-data; boundary=x"}),
        413, "upload limit"),
    "image above the pixel limit": (lambda c, p: post_image(c, "/api/explain", png_bytes((80, 80)), "huge.png"),
                                    400, "huge.png: image too large: 80 x 80 = 6,400 pixels (limit 4,096)"),
    "no image": (lambda c, p: c.post("/api/predict", data={"among": "run"}), 422, "body.image: Field required"),
    "top_k below 1": (lambda c, p: post_image(c, "/api/predict", png_bytes(), top_k="0"), 422, "body.top_k"),
    "unknown candidate set": (lambda c, p: post_image(c, "/api/predict", png_bytes(), among="all"), 422,
                              "body.among"),
    "no defined classes yet": (lambda c, p: post_image(c, "/api/predict", png_bytes(), among="defined"), 400,
                               "no classes are defined yet"),
    "unknown class": (lambda c, p: post_image(c, "/api/explain", png_bytes(), **{"class": "Dodo"}), 400,
                      "unknown class 'Dodo'"),
    "unknown attribute": (lambda c, p: c.post("/api/classes", json={"classes": [
        {"name": "x", "attributes": {"wings=7": 1.0}}]}), 400, "unknown attributes ['wings=7']"),
    "NaN value": (lambda c, p: c.post("/api/classes", headers={"content-type": "application/json"}, content=(
        '{"classes": [{"name": "x", "attributes": {"%s": NaN}}]}' % p.attribute_names[0])),
        422, "Input should be a finite number"),
    "all-zero class": (lambda c, p: c.post("/api/classes", json={"classes": [{"name": "zero", "attributes": {}}]}),
                       400, "all-zero attribute vector"),
    "a run's class name": (lambda c, p: c.post("/api/classes", json={"classes": [
        {"name": p.classes.names[0], "attributes": {p.attribute_names[0]: 1}}]}), 400, "are classes of the run"),
    "malformed JSON": (lambda c, p: c.post("/api/classes", content=b"{", headers={"content-type": "application/json"}),
                       422, "JSON decode error"),
    "NaN in a CSV": (lambda c, p: c.post("/api/classes/csv", files={"file": ("n.csv", (
        f"class,{','.join(p.attribute_names)}\nx,nan{',1' * (len(p.attribute_names) - 1)}\n").encode())}),
        400, "n.csv: line 2: class 'x' has a non-finite value (nan)"),
    "a CSV with an unknown column": (lambda c, p: c.post("/api/classes/csv", files={"file": ("u.csv", (
        f"class,{','.join(p.attribute_names)},wings\nx{',1' * (len(p.attribute_names) + 1)}\n").encode())}),
        400, "u.csv: unknown attribute columns ['wings']"),
    "a CSV that is not text": (lambda c, p: c.post("/api/classes/csv", files={"file": ("b.csv", b"\xff\xfe\xfa")}),
                               400, "b.csv: not UTF-8 text"),
    "unknown address": (lambda c, p: c.get("/api/nothing"), 404, "Not Found"),
    "a path in place of an upload": (lambda c, p: c.post("/api/predict", data={"image": "/etc/passwd"}),
                                     422, "body.image"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # refused, as the reader is meant to
def test_bad_input_is_one_line_of_json_and_the_server_goes_on(case: str, client: TestClient,
                                                              predictor: Predictor, images: list[Path], monkeypatch):
    request, status, message = BAD[case]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64)
    answer = request(client, predictor)
    assert answer.status_code == status
    body = answer.json()
    assert list(body) == ["error"] and len(body["error"].splitlines()) == 1
    assert message in body["error"]
    assert post_image(client, "/api/predict", images[0].read_bytes()).status_code == 200


def test_eight_concurrent_clients_get_the_answers_of_one(predictor: Predictor, images: list[Path]):
    app = create_app(predictor)
    with TestClient(app, base_url=LOCAL) as one:
        expected = [post_image(one, "/api/predict", p.read_bytes()).json() for p in images[:8]]

        def ask(path: Path) -> dict:  # a client (and event loop) per thread, one server
            return post_image(TestClient(app, base_url=LOCAL), "/api/predict", path.read_bytes()).json()

        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(ask, images[:8] * 3))
    for answer, want in zip(got, expected * 3):
        assert_same_ranking(answer["top"], want["top"])


def test_the_model_itself_answers_concurrent_threads_alike(predictor: Predictor, images: list[Path]):
    """What state.py says: one module in eval mode gives each of several threads calling it at
    once the answer it gives one alone (the server still makes one call at a time)."""
    inputs = [predictor.load_image(p) for p in images[:8]]
    alone = [predictor.rank(x[None], 3)[0] for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda x: predictor.rank(x[None], 3)[0], inputs * 2))
    for got, want in zip(together, alone * 2):
        assert_same_ranking(got, want)


def test_the_api_takes_uploads_only(client: TestClient):
    """No endpoint takes a file name or path on the server, or anything but JSON and uploads."""
    spec = client.get("/openapi.json").json()
    assert sorted(spec["paths"]) == ["/api/attributes", "/api/classes", "/api/classes/csv", "/api/classes/{name}",
                                     "/api/explain", "/api/predict", "/health"]
    bodies = [op["requestBody"]["content"] for path in spec["paths"].values() for op in path.values()
              if "requestBody" in op]
    assert sorted(k for content in bodies for k in content) == ["application/json"] + ["multipart/form-data"] * 3


def test_serve_without_the_extra_says_how_to_install_it(run_dir: Path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == 'mgmrn serve: error: mgmrn serve needs the serve extra (fastapi is missing): ' \
                  'pip install -e ".[serve]"\n'


def test_serve_listens_on_this_machine_only_by_default(capsys):
    from mgmrn.cli.main import build_parser

    args = build_parser().parse_args(["serve", "runs/x"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    assert main(["serve", "runs/x", "--port", "70000"]) == 2
    assert capsys.readouterr().err == "mgmrn serve: error: --port must be in [0, 65535], got 70000\n"


def test_the_command_line_imports_no_web_stack_until_serving():
    probe = ("from mgmrn.cli.main import build_parser\nbuild_parser().format_help()\nimport sys\n"
             "print([m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the real server, on a port
BODY_TIMEOUT = 2  # seconds, --body-timeout of the served fixture
BYTES_A_PIXEL = 9  # what README's Web app section documents: a decoded image's cost, at most


@dataclass
class Served:
    """``mgmrn serve`` in its own process, on a free port of 127.0.0.1."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_mb(self) -> float:
        """The process's peak resident memory since :meth:`reset_peak` (VmHWM), in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def reset_peak(self) -> float:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self.peak_mb()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(run_dir: Path, log: Path, *options: str) -> Iterator[Served]:
    port = free_port()
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "mgmrn", "serve", str(run_dir), "--port", str(port), *options],
                                   stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    served = Served(process, port, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{served.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def served(run_dir: Path, tmp_path_factory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("served") / "serve.log"
    with serving(run_dir, log, "--allowed-host", "mgmrn.test", "--body-timeout", str(BODY_TIMEOUT)) as server:
        yield server


def png_of(width: int, height: int, mode: str = "L") -> bytes:
    """A valid PNG of zeros, 8-bit grey (``L``) or grey and alpha (``LA``), written row by row:
    no image of that size is ever in this process's memory."""
    color, channels = {"L": (0, 1), "LA": (4, 2)}[mode]
    row, packer = b"\0" * (1 + width * channels), zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def post_to(served: Served, path: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(served.url + path, files={"image": (name, data, "image/png")}, timeout=120)


@pytest.mark.parametrize("size,problem", [
    ((60_000, 1), "image too large: 60000 x 1 pixels (at most 32,768 a side)"),
    ((300_000, 1), "image too large"), ((89_000_000, 1), "image too large"),
    ((20_000, 999), "image too elongated: 20000 x 999 pixels (the longer side may be at most 20 times the shorter)"),
    ((1, 30_000), "image too elongated"), ((8_000, 8_000), "image too large: 8000 x 8000 = 64,000,000 pixels"),
])
def test_absurd_image_geometry_is_refused_from_the_header_at_no_cost(served: Served, images: list[Path],
                                                                    size: tuple[int, int], problem: str):
    data = png_of(*size)
    before = served.reset_peak()
    for path in ("/api/predict", "/api/explain"):
        answer = post_to(served, path, "wide.png", data)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"wide.png: {problem}")
    assert served.peak_mb() - before < 32  # refused before decoding: the server did not grow
    assert post_to(served, "/api/predict", "ok.png", images[0].read_bytes()).status_code == 200


def test_the_largest_image_accepted_costs_at_most_the_documented_memory(served: Served):
    side = 7_000  # 49,000,000 pixels, under the limit of 50,000,000; grey and alpha, 2 bytes a pixel decoded
    data = png_of(side, side, "LA")
    before = served.reset_peak()
    answer = post_to(served, "/api/predict", "large.png", data)
    assert answer.status_code == 200 and len(answer.json()["top"]) == 5
    grown = served.peak_mb() - before
    assert 0 < grown <= BYTES_A_PIXEL * side * side / 2**20 + 32, grown
    refused = post_to(served, "/api/predict", "larger.png", png_of(7_072, 7_071))  # 50,006,112 pixels
    assert refused.json() == {"error": "larger.png: image too large: 7072 x 7071 = 50,006,112 pixels "
                                       "(limit 50,000,000)"}


def csv_of(attribute_names: list[str], name: str, value: float = 1.0) -> bytes:
    return (f"class,{','.join(attribute_names)}\n\"{name}\",{value}{',0' * (len(attribute_names) - 1)}\n").encode()


BAD_DEFINITIONS = [  # name, value, what the answer says (whichever route it came by)
    ("x" * 10_000, 1.0, "a class name may have at most 200 characters, this one has 10,000"),
    ("tab\there", 1.0, "a class name may not hold control characters"),
    ("..", 1.0, "'..' cannot be a class name"),
    ("huge", 1e308, "class 'huge' has values too large to normalise (largest 1e+308)"),
    ("huge", -1e200, "class 'huge' has values too large to normalise"),
]


@pytest.mark.parametrize("name,value,problem", BAD_DEFINITIONS)
def test_both_routes_refuse_a_bad_class_before_storing_it_and_the_listing_survives(
        served: Served, predictor: Predictor, name: str, value: float, problem: str):
    attributes = predictor.attribute_names
    by_json = httpx.post(f"{served.url}/api/classes", timeout=30,
                         json={"classes": [{"name": "fine", "attributes": {attributes[0]: 1}},
                                           {"name": name, "attributes": {attributes[0]: value}}]})
    by_csv = httpx.post(f"{served.url}/api/classes/csv", timeout=30,
                        files={"file": ("new.csv", csv_of(attributes, name, value), "text/csv")})
    for answer, source in ((by_json, "defined classes"), (by_csv, "new.csv")):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"].startswith(f"{source}: ") and problem in answer.json()["error"]
    listing = httpx.get(f"{served.url}/api/classes", timeout=30)
    assert listing.status_code == 200 and listing.json()["defined"] == []  # nothing stored, not even "fine"


@pytest.mark.parametrize("name", ["a/b", "50% off", "why?#not", "..x", "back\\slash", "Ünïcödé 鳥", " leading"])
def test_any_accepted_name_can_be_deleted_at_its_address(served: Served, predictor: Predictor, name: str):
    attribute = predictor.attribute_names[0]
    defined = httpx.post(f"{served.url}/api/classes", json={"classes": [{"name": name, "attributes": {attribute: 1}}]},
                         timeout=30)
    assert defined.status_code == 200 and [c["name"] for c in defined.json()["defined"]] == [name]
    deleted = httpx.delete(f"{served.url}/api/classes/{quote(name, safe='')}", timeout=30)  # as encodeURIComponent
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["defined"] == []


def test_cross_site_requests_and_foreign_host_names_are_refused(served: Served, predictor: Predictor):
    own, port = served.url, served.port
    attributes = predictor.attribute_names
    upload = {"file": ("evil.csv", csv_of(attributes, "evil"), "text/csv")}
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}"):
        answer = httpx.post(f"{own}/api/classes/csv", files=upload, headers={"Origin": origin}, timeout=30)
        assert answer.status_code == 403 and f"Origin {origin}" in answer.json()["error"]
    assert httpx.delete(f"{own}/api/classes/x", headers={"Origin": "http://evil.example"}).status_code == 403
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}"):
        for path in ("/", "/api/classes", "/health"):
            answer = httpx.get(own + path, headers={"Host": host}, timeout=30)
            assert answer.status_code == 400 and "does not answer to the host name" in answer.json()["error"]
    assert httpx.get(f"{own}/api/classes", timeout=30).json()["defined"] == []  # nothing was defined
    # its own page's requests, an address, localhost and --allowed-host are answered
    same = httpx.post(f"{own}/api/classes/csv", files=upload, headers={"Origin": own}, timeout=30)
    assert same.status_code == 200 and [c["name"] for c in same.json()["defined"]] == ["evil"]
    for host in (f"localhost:{port}", f"mgmrn.test:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        assert httpx.get(f"{own}/api/classes", headers={"Host": host}, timeout=30).status_code == 200
    assert httpx.delete(f"{own}/api/classes/evil", headers={"Origin": f"http://mgmrn.test:{port}",
                                                            "Host": f"mgmrn.test:{port}"}).status_code == 200


def test_stalled_uploads_are_answered_408_and_closed(served: Served, images: list[Path]):
    head = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Length: 100000\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n").encode()
    stalled = []
    for _ in range(200):
        connection = socket.create_connection(("127.0.0.1", served.port))
        connection.sendall(head)  # and then nothing more
        stalled.append(connection)
    # the server answers the others meanwhile
    assert post_to(served, "/api/predict", "ok.png", images[0].read_bytes()).status_code == 200
    for connection in stalled:
        connection.settimeout(BODY_TIMEOUT + 30)
        answer = b""
        while chunk := connection.recv(65536):  # until the server closes it
            answer += chunk
        connection.close()
        assert answer.startswith(b"HTTP/1.1 408 ") and b"request body not received within 2 s" in answer


def test_a_token_server_answers_its_api_only_to_the_token(token_served):
    server = token_served  # shared with test_serve_browser (conftest): nothing here changes it
    assert f"mgmrn serve: open http://127.0.0.1:{server.port}/#token=s3cret" in server.log.read_text()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        answer = httpx.get(f"{server.url}/api/classes", headers=headers, timeout=30)
        assert answer.status_code == 401 and "needs its token" in answer.json()["error"]
    assert httpx.get(f"{server.url}/api/classes", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    for path in ("/", "/static/app.js", "/health"):  # the page loads, then sends the token
        assert httpx.get(server.url + path).status_code == 200


def test_a_run_saved_before_temperatures_is_served_with_a_note(run_dir: Path, tmp_path: Path, monkeypatch, capsys):
    """As ``mgmrn predict`` does: the plain softmax (T = 1), said in one line at start-up.
    ``mgmrn serve`` runs in this process, up to uvicorn's loop: in its place, the app it
    would serve answers a test client (no second process importing torch for one line)."""
    import uvicorn

    from mgmrn.storage.saved_run import SavedRun

    SavedRun.open(run_dir).replace(temperature=None, before_temperatures=True).save(tmp_path / "old.pt")
    health: list[int] = []

    def serve_once(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            sock.close()
        with TestClient(server.config.app, base_url="http://127.0.0.1") as test_client:
            health.append(test_client.get("/health").status_code)

    monkeypatch.setattr(uvicorn.Server, "run", serve_once)
    capsys.readouterr()
    assert main(["serve", str(tmp_path / "old.pt"), "--port", "0"]) == 0
    assert health == [200]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mgmrn serve: note:")]
    assert len(notes) == 1 and "saved before probabilities were calibrated" in notes[0]


def test_serve_says_when_anyone_who_reaches_it_can_use_it(capsys):
    from mgmrn.cli.serve import announce

    announce("0.0.0.0", 8080, None)
    announce("127.0.0.1", 8080, None)
    assert capsys.readouterr().err.splitlines() == [
        "mgmrn serve: open http://0.0.0.0:8080/; listening beyond this machine: anyone who can reach it can use "
        "it (--token makes it ask for a token)",
        "mgmrn serve: open http://127.0.0.1:8080/"]
