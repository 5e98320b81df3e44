"""gunicorn settings for one app host: `gunicorn -c deploy/gunicorn.conf.py registry.wsgi:app`.

Values come from the environment so one file serves every host (systemd's EnvironmentFile,
see deploy/systemd/registry.service). Each worker imports registry.wsgi after the fork and
starts its search-index follower there: no --preload (a thread does not survive a fork).
"""

import os

bind = os.environ.get("REGISTRY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("REGISTRY_WORKERS", "4"))
worker_class = "sync"
preload_app = False
# A fresh worker catches its index up before it answers (at most 60 s); searches need
# no more than the default timeout afterwards.
timeout = int(os.environ.get("REGISTRY_WORKER_TIMEOUT", "90"))
graceful_timeout = 30
# Forwarded headers are interpreted by the app (REGISTRY_PROXY_HOPS, werkzeug's ProxyFix),
# not a second time by gunicorn.
forwarded_allow_ips = ""
secure_scheme_headers = {}
# Long-lived workers slowly grow (Python fragmentation): recycle them now and then, at
# different moments, so a host never restarts all its workers at once.
max_requests = int(os.environ.get("REGISTRY_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("REGISTRY_ACCESS_LOG", "-")
errorlog = "-"
