"""GET /openapi.json: generated from the route table, which must match template.yaml's routes."""

from local_stack import template as tpl
from smsgw.http.openapi import ROUTES
from tests.handlers.conftest import Invoke, Stack, api_event, body


def test_route_table_matches_the_template() -> None:
    template_routes = {(r.method, r.path, r.api_key_required) for r in tpl.routes(tpl.load())}
    documented = {(method, path, path != "/callbacks/{provider}/{token}") for method, path, *_ in ROUTES}
    assert documented == template_routes


def test_document_is_served_with_the_stage_prefix(stack: Stack, invoke: Invoke) -> None:
    response = invoke("openapi", api_event("GET", "/openapi.json", "/openapi.json"))
    assert response["statusCode"] == 200
    document = body(response)
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/v1"}]
    assert set(document["paths"]) == {path for _, path, *_ in ROUTES}
    assert document["paths"]["/callbacks/{provider}/{token}"]["post"]["security"] == []
    send = document["paths"]["/sms/send"]["post"]
    assert {"200", "202", "403", "422", "429", "502", "503"} <= set(send["responses"])
