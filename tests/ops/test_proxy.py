"""The shipped reverse-proxy configurations (deploy/nginx/kiegen.conf, deploy/caddy/Caddyfile), run for real in
front of ``kiegen serve`` with only their addresses and ports changed. ``KIEGEN_PUBLIC_URL`` is the proxy, so
KIE's callbacks (the simulator's) reach the service only through it. A long poll that outlasts the proxy's
general read timeout must still come back. Skips, saying why, where the server is not installed (CI installs
both: KIEGEN_REQUIRE_PROXIES=1 turns the skip into a failure)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import attrs
import httpx
import pytest

from kiegen.apps.http.state import AppState
from tests.ops.deployment import AUTH, Deployment, deployed
from tests.ops.procs import ROOT, Service, clean_env, free_port

pytestmark = pytest.mark.slow

NGINX_CONF = ROOT / "deploy" / "nginx" / "kiegen.conf"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
SLOW_JOB_S = 17.0
"""A job that outlasts the 15 s read timeout nginx applies outside /v1/ (and KIE's callback wait)."""


def _server(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)
    if found is None:
        message = f"{name} is not installed (Debian: apt install {name}); .ci/run installs it"
        if os.environ.get("KIEGEN_REQUIRE_PROXIES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _replace(text: str, old: str, new: str, count: int) -> str:
    """Change the shipped file's addresses, and fail if the file no longer has them (the test would be testing
    something else)."""
    assert text.count(old) == count, f"expected {count} x {old!r} in the shipped file"
    return text.replace(old, new)


@attrs.define
class Proxy:
    name: str
    url: str
    service: Service
    access_log: Path | None


def nginx_files(where: Path, *, listen: int, http_port: int, bot_port: int) -> list[str]:
    """The shipped server block with its ports changed, inside the smallest main configuration that runs it
    unprivileged in ``where``; the command that runs it in the foreground."""
    site = NGINX_CONF.read_text()
    site = _replace(site, "server 127.0.0.1:8080 ", f"server 127.0.0.1:{http_port} ", 1)
    site = _replace(site, "server 127.0.0.1:8081;", f"server 127.0.0.1:{bot_port};", 1)
    site = _replace(site, "    listen 80;\n", f"    listen 127.0.0.1:{listen};\n", 1)
    site = _replace(site, "    listen [::]:80;\n", "", 1)
    site = _replace(site, "/var/log/nginx/kiegen.access.log", str(where / "access.log"), 1)
    (where / "kiegen.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {where / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (where / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\ndaemon off;\npid {where / 'nginx.pid'};\nerror_log {where / 'error.log'} notice;\n"
        + "events { worker_connections 128; }\n"
        + f"http {{\n{temp}\n    include {where / 'kiegen.conf'};\n}}\n"
    )
    return [_server("nginx"), "-p", str(where), "-e", str(where / "error.log"), "-c", str(where / "nginx.conf")]


def caddy_files(where: Path, *, listen: int, http_port: int, bot_port: int) -> list[str]:
    site = CADDYFILE.read_text()
    site = _replace(site, "kiegen.example.com {", f"http://127.0.0.1:{listen} {{", 1)
    site = _replace(site, "reverse_proxy 127.0.0.1:8080 {", f"reverse_proxy 127.0.0.1:{http_port} {{", 1)
    site = _replace(site, "127.0.0.1:8081", f"127.0.0.1:{bot_port}", 1)
    (where / "Caddyfile").write_text(f"{{\n\tadmin off\n\tstorage file_system {where / 'data'}\n}}\n\n" + site)
    return [_server("caddy"), "run", "--config", str(where / "Caddyfile"), "--adapter", "caddyfile"]


PROXIES: dict[str, Callable[..., list[str]]] = {"nginx": nginx_files, "caddy": caddy_files}


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    command = nginx_files(tmp_path, listen=free_port(), http_port=free_port(), bot_port=free_port())
    done = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


def test_caddy_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    command = caddy_files(tmp_path, listen=free_port(), http_port=free_port(), bot_port=free_port())
    validate = [command[0], "validate", *command[2:]]
    done = subprocess.run(validate, capture_output=True, text=True, timeout=30, check=False, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_the_api_location_outwaits_the_longest_long_poll() -> None:
    longest = AppState.__attrs_attrs__.max_wait_s.default + 1  # the route adds a second of its own
    api = re.search(r"location /v1/ \{(.*?)\}", NGINX_CONF.read_text(), re.S)
    assert api is not None
    (timeout,) = re.findall(r"proxy_read_timeout (\d+)s;", api.group(1))
    assert int(timeout) > longest
    (caddy,) = re.findall(r"response_header_timeout (\d+)s", CADDYFILE.read_text())
    assert int(caddy) > longest


def _callbacks_received(app: Deployment) -> float:
    text = httpx.get(f"{app.url}/metrics", timeout=10).text  # the service's own port: not through the proxy
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("kiegen_callbacks_total{")
    )


@pytest.mark.parametrize("name", list(PROXIES))
def test_requests_and_kie_callbacks_pass_through_the_proxy(tmp_path: Path, name: str) -> None:
    listen, http_port = free_port(), free_port()
    proxy_dir = tmp_path / name
    proxy_dir.mkdir()
    command = PROXIES[name](proxy_dir, listen=listen, http_port=http_port, bot_port=free_port())
    url = f"http://127.0.0.1:{listen}"
    env = clean_env(XDG_DATA_HOME=str(proxy_dir), XDG_CONFIG_HOME=str(proxy_dir), HOME=str(proxy_dir))
    with (
        deployed(tmp_path, port=http_port, public_url=url) as app,
        Service(command, cwd=proxy_dir, env=env, log=proxy_dir / "proxy.log") as proxy,
    ):
        assert proxy.wait_http(f"{url}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 404  # scraped on the instance itself
        assert httpx.get(f"{url}/v1/models", headers=AUTH, timeout=10).status_code == 200

        job = app.generate(via=url)
        assert job["status"] == "succeeded", job
        app.service.wait_until(lambda: _callbacks_received(app) >= 1, what="KIE's callback through the proxy")

        # longer than the proxy's general 15 s read timeout: only the /v1/ location's own timeout lets it back
        app.kie.low = app.kie.high = SLOW_JOB_S
        slow = app.generate(via=url, wait=SLOW_JOB_S + 30)  # room for a loaded machine, within max_wait_s
        assert slow["status"] == "succeeded", slow
        app.service.wait_until(lambda: len(app.receiver.payloads) == 2, what="both webhooks")
    if name == "nginx":
        log = (proxy_dir / "access.log").read_text()
        assert f'"POST /callbacks/kie/{job["id"]} HTTP/1.1" 200' in log, log
        assert f'"GET /v1/generations/{slow["id"]} HTTP/1.1" 200' in log, log
        assert "token=" not in log  # callback URLs' tokens stay out of the proxy's log
