"""The oauth2 plugin's token store across processes, with ``carbonplane gateway start``:
tokens survive a gateway restart, two worker processes share one embedded store (a code spent
concurrently from both yields one token), and two gateways share tokens through Redis
(issued on one, refreshed and revoked through the other)."""

from __future__ import annotations

import threading

from gwharness import GatewayProcess, admin, write_config

from .oauth2kit import authorize, call, client_token, config, password_token, post

TRUST = ["--trusted-ips", "127.0.0.1/32"]


def gateway(path, home, workers: int = 1) -> GatewayProcess:
    return GatewayProcess(path, workers=workers, extra=TRUST, env={"CARBONPLANE_HOME": str(home)})


def test_tokens_survive_a_restart(upstream, tmp_path):
    path = write_config(tmp_path / "kong.yml", config(upstream.address))
    home = tmp_path / "home"
    with gateway(path, home) as gw:
        token = password_token(gw.proxy_port)
        assert call(gw.proxy_port, token["access_token"])[0] == 200
    assert (home / "gateway" / "oauth2.db").exists()
    with gateway(path, home) as gw:
        assert call(gw.proxy_port, token["access_token"])[0] == 200
        status, _, doc = post(
            gw.proxy_port,
            "/api/oauth2/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": "web",
                "client_secret": "web-secret",
            },
        )
        assert status == 200 and call(gw.proxy_port, doc["access_token"])[0] == 200
        listed = admin(gw.admin_port, "GET", "/oauth2_tokens")[2]["data"]
        assert [t["access_token"] for t in listed] == [doc["access_token"]]


def test_two_workers_share_the_store_and_spend_a_code_once(upstream, tmp_path):
    path = write_config(tmp_path / "kong.yml", config(upstream.address))
    with gateway(path, tmp_path / "home", workers=2) as gw:
        port = gw.proxy_port
        # fresh connections land on either worker (SO_REUSEPORT): issue on one, use on any
        tokens = [client_token(port)["access_token"] for _ in range(20)]
        assert all(call(port, t)[0] == 200 for t in tokens for _ in range(2))
        assert admin(gw.admin_port, "DELETE", f"/oauth2_tokens/{tokens[0]}")[0] == 204
        assert all(call(port, tokens[0])[0] == 401 for _ in range(6))
        code = authorize(port, "web")[2]["code"][0]
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "web",
            "client_secret": "web-secret",
        }
        statuses: list[int] = []
        barrier = threading.Barrier(8)

        def spend() -> None:
            barrier.wait()
            statuses.append(post(port, "/api/oauth2/token", params)[0])

        threads = [threading.Thread(target=spend) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200] + [400] * 7


def test_redis_store_shares_tokens_between_two_gateways(upstream, tmp_path, redis_url):
    doc = config(upstream.address, token_store="redis", redis={"host": "127.0.0.1", "port": 6379})
    path = write_config(tmp_path / "kong.yml", doc)
    with gateway(path, tmp_path / "a") as one, gateway(path, tmp_path / "b") as two:
        token = password_token(one.proxy_port)
        assert call(two.proxy_port, token["access_token"])[0] == 200
        status, _, refreshed = post(
            two.proxy_port,
            "/api/oauth2/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": token["refresh_token"],
                "client_id": "web",
                "client_secret": "web-secret",
            },
        )
        assert status == 200
        assert call(one.proxy_port, token["access_token"])[0] == 401  # rotated away
        new = refreshed["access_token"]
        assert call(one.proxy_port, new)[0] == 200
        row = admin(one.admin_port, "GET", f"/oauth2_tokens/{new}")[2]
        assert row["refresh_token"] == refreshed["refresh_token"] and row["ttl"] > 0
        assert admin(two.admin_port, "DELETE", f"/oauth2_tokens/{row['id']}")[0] == 204
        assert call(one.proxy_port, new)[0] == 401 and call(two.proxy_port, new)[0] == 401
