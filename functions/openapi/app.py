"""GET /openapi.json: the API's OpenAPI 3 document."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smsgw.http.answers import json_response, new_resolver
from smsgw.http.openapi import Policy, document
from smsgw.platform.config import settings
from smsgw.providers.registry import classes

app = new_resolver()


@app.get("/openapi.json")
def openapi() -> Any:
    # Behind API Gateway the full path carries the stage (/v1/openapi.json); locally it does not.
    event = app.current_event
    full_path = event.request_context.path or event.path
    prefix = full_path[: len(full_path) - len(event.path)] if full_path.endswith(event.path) else ""
    config = settings()
    policy = Policy(
        {name: cls.options for name, cls in classes().items()},
        config.allowed_countries,
        config.max_segments,
        config.max_recipients,
    )
    return json_response(200, document(policy, prefix or "/"))


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
