"""The local stack as `make run` starts it: app, storage, mail inbox and sign-in provider all answer."""

import requests


def test_stack_answers_over_http(local_stack):
    health = requests.get(f"{local_stack.app_url}/api/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["storage"]["reachable"] is True
    assert requests.get(f"{local_stack.mail_url}/email", timeout=10).status_code == 200
    from devhost.identity import ensure_certs

    bundle, _ = ensure_certs()
    discovery = requests.get(f"{local_stack.authority}/.well-known/openid-configuration", timeout=10, verify=str(bundle))
    assert discovery.status_code == 200
    assert discovery.json()["authorization_endpoint"].startswith(local_stack.authority)


def test_unknown_route_is_404(local_stack):
    assert requests.get(f"{local_stack.app_url}/api/nothing-here", timeout=10).status_code == 404
