"""localcloud: a small OpenStack-compatible cloud on the local Docker engine.

Layout (one module per concern, one per OpenStack service):
    app.py       create_app(config) and the SERVICES registry
    catalog.py   Service, the token catalog, version discovery, microversions
    auth.py      tokens, secret hashing, the require_token gate (flask.g fields)
    faults.py    OpenStack-shaped errors in each service's style
    store.py     the SQLite document store (state.db)
    config.py    LocalCloudConfig, data dir, clouds.yaml entries
    identity.py  Keystone v3 (identity_tokens.py, identity_appcreds.py, identity_common.py)
    daemon.py    serve, start in background, stop, status, reset (RESET_HOOKS)
"""
