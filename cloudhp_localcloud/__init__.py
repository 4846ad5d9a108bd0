"""localcloud: a small OpenStack-compatible cloud on the local Docker engine.

The tool reaches it only through control.py. Shared infrastructure at the top, one
sub-package per OpenStack service below; services depend on each other in one
direction (identity, network <- volume <- compute <- image; orchestration calls the
others over HTTP), and nothing here imports a module that imports it back.

    control.py      the one door for the tool: up, down, status, reset, openrc
    __main__.py     `python -m cloudhp_localcloud`: the server process
    server.py       serve in the foreground: listeners, pid file, seeding
    daemon.py       the detached daemon: start, stop, status, reset
    runtime.py      the pid file and localcloud.json a running server keeps
    clients.py      clouds.yaml entries and openrc for clients
    seed.py         the demo project's network and router, through the API
    registry.py     the services, their startup order and their reset order, once
    app.py          create_app(config): mounts the registry's services on one port
    catalog.py      Service, the token catalog, version discovery, microversions
    auth.py         tokens, secret hashing, the token gates (flask.g fields)
    bodies.py       request body limits: 1 MiB of JSON, 64 levels deep
    faults.py       OpenStack-shaped errors in each service's style
    fault_injection.py  injected 503, 429 and slow answers for tests (rules, admin endpoint)
    store.py        the SQLite document store (state.db)
    config.py       LocalCloudConfig, data dir, clouds.yaml entries
    dockerlabels.py labels of the Docker objects an instance makes, server names

    identity/       Keystone v3: api (SERVICE, bootstrap), tokens, appcreds, common;
                    the admin API: projects, users, roles, grants
    network/        Neutron v2.0: api (SERVICE, tags), networks, ports, security,
                    floatingips, routers, quotas, common; addresses (IPAM, ports),
                    bridges (Docker networks, reset), servers (what compute calls)
    volume/         Cinder v3: api (SERVICE, reset), volumes, actions, quotas,
                    backend (loop devices; what compute calls)
    compute/        Nova v2.1: api (SERVICE), misc, create, servers, meta, actions,
                    common; lifecycle (worker pool, reset), snapshots, nodes (Docker)
    image/          Glance v2: api (SERVICE, base image), images, schema
    orchestration/  Heat v1: api, api_common, api_stacks, api_resources; template,
                    parameters, functions, graph; records, engine, run, credentials,
                    errors; resources/ (one plugin per type, waitcondition)

Each sub-package's `__init__` exposes its `SERVICE` (catalog.Service: blueprint,
startup, reset); registry.py lists them.
"""
