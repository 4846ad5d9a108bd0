"""The ingress configuration is a pure function of the routes, compared as exact text.

Exact comparison is the point: the text decides "no change" (string equality on every
ingress node), so any accidental nondeterminism or drift shows up here first.
"""

from __future__ import annotations

import pytest

from cloudhp.commands.haproxy import Route, config_digest, embedded_digest, ingress_config
from cloudhp.errors import UsageError

HEAD = """\
global
    master-worker
    log stdout format raw local0
    maxconn 4096
    hard-stop-after 60s
    stats socket /run/haproxy/admin.sock mode 600 level admin
    server-state-file /var/lib/haproxy/server-state
resolvers swarm
    nameserver dns 127.0.0.11:53
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold obsolete 2s
    hold other 2s
    hold refused 2s
    hold nx 2s
    hold timeout 2s
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option dontlog-normal
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 10s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    load-server-state-from-file global
frontend stats
    bind :8404
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    stats refresh 10s
frontend http
    bind :80
    http-request disable-l7-retry if !{ method GET HEAD OPTIONS PUT DELETE }
    http-request return status 200 content-type text/plain string "ok\\n" hdr X-Cloudhp-Config @CONFIG_DIGEST@ if { path /healthz }
"""  # noqa: E501

FALLBACK = """\
backend fallback
    http-request return status 200 content-type text/plain string "cloudhp cluster demo\\n" if { path / }
    http-request return status 404 content-type text/plain string "not found\\n"
"""  # noqa: E501

API = Route("shop-api", "tasks.shop_api", 8000, health_path="/shop-api/health")
WEB = Route("shop-web", "tasks.shop_web", 8080, hosts=("shop.example.com", "www.example.com"))


def digested(text: str) -> str:
    """`text` with the digest of itself (placeholder in place) where the node reports it."""
    return text.replace("@CONFIG_DIGEST@", config_digest(text))


def test_no_routes_serves_healthz_the_cluster_page_and_404():
    expected = digested(HEAD + "    default_backend fallback\n" + FALLBACK)
    assert ingress_config("demo", []) == expected
    assert ingress_config("demo", ()) == expected


def test_healthz_reports_a_digest_that_differs_with_every_change():
    digests = {
        embedded_digest(ingress_config("demo", routes)) for routes in ([], [API], [API, WEB])
    }
    digests.add(embedded_digest(ingress_config("other", [])))
    assert len(digests) == 4 and None not in digests
    assert embedded_digest("global\n    maxconn 10\n") is None


ONE_ROUTE = """\
    acl path_shop-api path /shop-api
    acl path_shop-api path_beg /shop-api/
    use_backend be_shop-api if path_shop-api
    default_backend fallback
backend be_shop-api
    balance roundrobin
    option httpchk GET /shop-api/health
    http-check expect status 200-399
    server-template task 10 tasks.shop_api:8000 check inter 1s fastinter 500ms downinter 2s fall 2 rise 2 resolvers swarm resolve-prefer ipv4 init-addr last,none
"""  # noqa: E501

TWO_ROUTES = """\
    acl path_shop-api path /shop-api
    acl path_shop-api path_beg /shop-api/
    acl host_shop-web req.hdr(host),field(1,:) -i shop.example.com www.example.com
    acl path_shop-web path /shop-web
    acl path_shop-web path_beg /shop-web/
    use_backend be_shop-web if host_shop-web
    use_backend be_shop-api if path_shop-api
    use_backend be_shop-web if path_shop-web
    default_backend fallback
backend be_shop-api
    balance roundrobin
    option httpchk GET /shop-api/health
    http-check expect status 200-399
    server-template task 10 tasks.shop_api:8000 check inter 1s fastinter 500ms downinter 2s fall 2 rise 2 resolvers swarm resolve-prefer ipv4 init-addr last,none
backend be_shop-web
    balance roundrobin
    option httpchk GET /shop-web
    http-check expect status 200-399
    server-template task 10 tasks.shop_web:8080 check inter 1s fastinter 500ms downinter 2s fall 2 rise 2 resolvers swarm resolve-prefer ipv4 init-addr last,none
"""  # noqa: E501


def test_one_route_matches_its_exact_first_path_segment():
    assert ingress_config("demo", [API]) == digested(HEAD + ONE_ROUTE + FALLBACK)


def test_two_routes_sorted_by_name_host_rules_first_default_health_path():
    expected = digested(HEAD + TWO_ROUTES + FALLBACK)
    assert ingress_config("demo", [WEB, API]) == expected
    assert ingress_config("demo", [API, WEB]) == expected  # order of the input is irrelevant


def test_slots_size_the_server_template():
    text = ingress_config("demo", [Route("shop-api", "tasks.shop_api", 8000, slots=3)])
    assert "    server-template task 3 tasks.shop_api:8000 check " in text


@pytest.mark.parametrize(
    "name",
    [
        "Shop-api",  # upper case
        "shop_api",  # underscore
        "shop api",  # space: would split the acl line
        "shop-api\n    bind :81",  # a newline would inject configuration
        "shop/api",
        "shop-api-",  # must end with a letter or digit
        "-shop",
        "1shop",  # must begin with a letter
        "",
        "a" * 33,  # at most 32 characters
        "shöp",
        "healthz",  # answered by HAProxy itself
    ],
)
def test_names_that_would_break_the_config_are_refused(name):
    with pytest.raises(UsageError, match="route name"):
        Route(name, "tasks.x", 8080)


def test_the_longest_allowed_name_is_accepted():
    assert Route("a" * 32, "tasks.x", 8080).name == "a" * 32


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_ports_outside_1_to_65535_are_refused(port):
    with pytest.raises(UsageError, match=f"port {port} is not within 1-65535"):
        Route("shop-api", "tasks.shop_api", port)


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_the_bounds_are_accepted(port):
    assert Route("shop-api", "tasks.shop_api", port).port == port


@pytest.mark.parametrize("port", ["8080", 80.0, True])
def test_non_integer_ports_are_refused(port):
    with pytest.raises(UsageError, match="not an integer"):
        Route("shop-api", "tasks.shop_api", port)


@pytest.mark.parametrize("backend", ["tasks.shop api", "tasks.x:80", "", "tasks.x\n", "a{b}"])
def test_backends_that_are_not_dns_names_are_refused(backend):
    with pytest.raises(UsageError, match="not a DNS name"):
        Route("shop-api", backend, 8080)


@pytest.mark.parametrize("host", ["Shop.example.com", "shop.example.com:80", "a b", "", "-a.com"])
def test_bad_host_names_are_refused(host):
    with pytest.raises(UsageError, match="host"):
        Route("shop-api", "tasks.shop_api", 8080, hosts=(host,))


@pytest.mark.parametrize("path", ["health", "/a b", '/a"b', "/a#b", "/a\\b", "/a\nb"])
def test_bad_health_paths_are_refused(path):
    with pytest.raises(UsageError, match="health path"):
        Route("shop-api", "tasks.shop_api", 8080, health_path=path)


@pytest.mark.parametrize("slots", [0, 1001])
def test_slots_out_of_range_are_refused(slots):
    with pytest.raises(UsageError, match="slots"):
        Route("shop-api", "tasks.shop_api", 8080, slots=slots)


def test_two_routes_with_one_name_or_one_host_are_refused():
    with pytest.raises(UsageError, match="two routes are named 'shop-api'"):
        ingress_config("demo", [API, Route("shop-api", "tasks.other", 80)])
    other = Route("shop-www", "tasks.www", 80, hosts=("www.example.com",))
    with pytest.raises(UsageError, match=r"'www\.example\.com' is claimed by"):
        ingress_config("demo", [WEB, other])


@pytest.mark.parametrize("cluster", ["Demo", 'de"mo', "de mo", ""])
def test_cluster_names_that_would_break_the_page_are_refused(cluster):
    with pytest.raises(UsageError, match="cluster name"):
        ingress_config(cluster, [])
