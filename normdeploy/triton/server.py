"""A local tritonserver from the ``nvidia-pytriton`` wheel (it bundles the server and the python
backend; no onnxruntime/tensorrt backends): finding it, a backend folder with the stub for this
Python, starting it on 127.0.0.1, waiting until READY, stopping it by PID."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class TritonUnavailableError(RuntimeError):
    """nvidia-pytriton (the bundled tritonserver) is not installed or incomplete."""


class TritonServerError(RuntimeError):
    """tritonserver exited early, did not become ready in time, or a port is taken."""


@dataclass(frozen=True)
class TritonDistribution:
    binary: Path
    python_backend: Path      # libtriton_python.so + triton_python_backend_utils.py
    stub: Path                # triton_python_backend_stub for this Python version
    libs: Path                # nvidia_pytriton.libs (the server's shared libraries)

    def backend_dir(self, dest: str | Path | None = None) -> Path:
        """A --backend-directory holding ``python/`` (library, utils, stub); made once per ``dest``
        (default: a per-user cache folder)."""
        if dest is None:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            dest = cache / "normdeploy" / "triton-backends" / f"py{sys.version_info[0]}.{sys.version_info[1]}"
        dest = Path(dest)
        py = dest / "python"
        wanted = {"libtriton_python.so": self.python_backend / "libtriton_python.so",
                  "triton_python_backend_utils.py": self.python_backend / "triton_python_backend_utils.py",
                  "triton_python_backend_stub": self.stub}
        if all((py / n).is_file() and (py / n).stat().st_size == src.stat().st_size for n, src in wanted.items()):
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".python.tmp-", dir=dest))
        for n, src in wanted.items():
            shutil.copyfile(src, staging / n)
        os.chmod(staging / "triton_python_backend_stub", 0o755)
        os.chmod(staging, 0o755)
        if py.exists():
            shutil.rmtree(py, ignore_errors=True)
        os.replace(staging, py)
        return dest

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.libs), env.get("LD_LIBRARY_PATH", "")) if p)
        # The python backend stub takes its Python (numpy, onnxruntime) from PATH: this interpreter's bin first.
        env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
        return env

    def command(self, repo: str | Path, *, http_port: int = 8000, grpc_port: int = 8001,
                backend_dir: str | Path | None = None, log_verbose: int = 0) -> list[str]:
        bdir = backend_dir if backend_dir is not None else self.backend_dir()
        return [str(self.binary), f"--model-repository={Path(repo).resolve()}", f"--backend-directory={bdir}",
                f"--http-address={HOST}", f"--http-port={http_port}", f"--grpc-address={HOST}",
                f"--grpc-port={grpc_port}", "--allow-metrics=false", "--disable-auto-complete-config", "--exit-timeout-secs=5",
                f"--log-verbose={log_verbose}"]

    def shell_command(self, repo: str | Path, http_port: int = 8000, grpc_port: int = 8001) -> str:
        cmd = self.command(repo, http_port=http_port, grpc_port=grpc_port)
        return (f"LD_LIBRARY_PATH={shlex.quote(str(self.libs))}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}} "
                f"PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH " + " ".join(shlex.quote(a) for a in cmd))


def find_tritonserver() -> TritonDistribution:
    """The tritonserver bundled in nvidia-pytriton (found without importing pytriton)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonUnavailableError("nvidia-pytriton is not installed: it bundles the tritonserver binary and the "
                                     "python backend (pip install nvidia-pytriton==0.7.0; with numpy 2 add --no-deps)")
    root = Path(list(spec.submodule_search_locations)[0])
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    dist = TritonDistribution(binary=root / "tritonserver" / "bin" / "tritonserver",
                              python_backend=root / "tritonserver" / "backends" / "python",
                              stub=root / "tritonserver" / "python_backend_stubs" / ver / "triton_python_backend_stub",
                              libs=root.parent / "nvidia_pytriton.libs")
    for what, p in (("tritonserver binary", dist.binary), ("python backend", dist.python_backend / "libtriton_python.so"),
                    (f"python backend stub for Python {ver}", dist.stub), ("bundled libraries", dist.libs)):
        if not p.exists():
            raise TritonUnavailableError(f"nvidia-pytriton at {root} is incomplete: no {what} at {p}")
    return dist


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _ready(http_port: int, path: str = "/v2/health/ready") -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{http_port}{path}", timeout=1.0) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class TritonServer:
    """A running tritonserver (its own process group). Use :meth:`start`; always :meth:`stop`."""

    def __init__(self, process: subprocess.Popen, http_port: int, grpc_port: int, log_path: Path, command: list[str]):
        self.process = process
        self.pid = process.pid
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.log_path = log_path
        self.command = command

    @property
    def http_url(self) -> str:
        return f"{HOST}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @classmethod
    def start(cls, repo: str | Path, *, http_port: int | None = None, grpc_port: int | None = None,
              log_path: str | Path | None = None, backend_dir: str | Path | None = None,
              log_verbose: int = 0) -> "TritonServer":
        dist = find_tritonserver()
        for flag, port in (("--port-http", http_port), ("--port-grpc", grpc_port)):
            if port is not None and not port_free(port):
                raise TritonServerError(f"{flag} {port}: port {port} on {HOST} is already in use")
        http_port = http_port if http_port is not None else free_port()
        grpc_port = grpc_port if grpc_port is not None else free_port()
        if grpc_port == http_port:
            raise TritonServerError(f"--port-http and --port-grpc are both {http_port}")
        cmd = dist.command(repo, http_port=http_port, grpc_port=grpc_port,
                           backend_dir=dist.backend_dir(backend_dir), log_verbose=log_verbose)
        log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="tritonserver-", suffix=".log")[1])
        with open(log_path, "wb") as log:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=dist.environment(), start_new_session=True)
        return cls(process, http_port, grpc_port, log_path, cmd)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                hint = ""
                if "already in use" in tail or "Address in use" in tail or "Failed to start" in tail:
                    hint = f" (is port {self.http_port} or {self.grpc_port} taken?)"
                raise TritonServerError(f"tritonserver exited with code {self.process.returncode}{hint}; "
                                        f"last lines of {self.log_path}:\n{tail}")
            if _ready(self.http_port):
                return
            time.sleep(0.2)
        raise TritonServerError(f"tritonserver was not ready after {timeout:.0f} s; last lines of {self.log_path}:\n"
                                f"{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the server's PID, then SIGKILL to its process group after ``timeout``."""
        if self.process.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        # python-backend stubs normally exit with the server; kill leftovers in its own group.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.process.returncode

    def __enter__(self) -> "TritonServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
