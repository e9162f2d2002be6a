"""Reads template.yaml: functions, their environment, API routes and the resources to create locally.

The local stack and the tests take everything from here, so the template stays the one source.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template with its short-form tags (!Ref, !Sub …) decoded into their long forms."""
    return dict(cfn_yaml.load(str(path)))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form, e.g. /sms/messages/{message_id}
    function: str  # logical id
    api_key_required: bool

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route serves `method path`, else None."""
        if method.upper() != self.method:
            return None
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str  # module.function
    environment: dict[str, Any]  # unresolved: values may be {"Ref": ...}
    timeout: int


def functions(template: dict[str, Any]) -> dict[str, Function]:
    globals_ = template.get("Globals", {}).get("Function", {})
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        env = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        found[logical_id] = Function(
            logical_id,
            ROOT / props["CodeUri"],
            props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
            env,
            int(props.get("Timeout", globals_.get("Timeout", 3))),
        )
    return found


def events(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(function logical id, event properties) of every function event of `kind` (Api, SQS, ...)."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == kind:
                yield logical_id, event["Properties"]


def routes(template: dict[str, Any]) -> list[Route]:
    """Every Api event of every function. The API's default is to require a key (Auth.ApiKeyRequired)."""
    apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    default_key = any(api["Properties"].get("Auth", {}).get("ApiKeyRequired", False) for api in apis)
    found = []
    for logical_id, props in events(template, "Api"):
        key = props.get("Auth", {}).get("ApiKeyRequired", default_key)
        found.append(Route(props["Method"].upper(), props["Path"], logical_id, bool(key)))
    # Literal segments win over parameters, as in API Gateway.
    return sorted(found, key=lambda r: r.path.count("{"))


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in template["Resources"].items() if r["Type"] == kind}


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {
        name: ",".join(p["Default"]) if isinstance(p.get("Default"), list) else str(p.get("Default", ""))
        for name, p in template.get("Parameters", {}).items()
    }


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolve the intrinsics an environment variable may use: plain values, Ref and simple Sub."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return refs[".".join(target) if isinstance(target, list) else target]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict | list):
        raise ValueError(f"cannot resolve {json.dumps(value)} locally")
    return str(value).lower() if isinstance(value, bool) else str(value)


def environment(function: Function, refs: dict[str, str]) -> dict[str, str]:
    return {name: resolve(value, refs) for name, value in function.environment.items()}


def globals_environment(template: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
    """The Globals' function variables, resolved (what every function shares)."""
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return {name: resolve(value, refs) for name, value in variables.items()}


def function_property(template: dict[str, Any], logical_id: str, name: str, default: Any = None) -> Any:
    """A function's property, else the Globals' Function value, else `default` (e.g. MemorySize)."""
    props = template["Resources"][logical_id].get("Properties", {})
    if name in props:
        return props[name]
    return template.get("Globals", {}).get("Function", {}).get(name, default)


def source_ip_restrictions(template: dict[str, Any]) -> list[str]:
    """The resource policy's `Deny ... NotIpAddress aws:SourceIp` statements of the REST API, as
    glob patterns over `STAGE/METHOD/path` (from `execute-api:/*/POST/callbacks/230sms/*`): a request
    matching one is refused unless its source IP is in the allowed CIDRs."""
    patterns = []
    for api in resources_of_type(template, "AWS::Serverless::Api").values():
        policy = api.get("Auth", {}).get("ResourcePolicy", {})
        for statement in policy.get("CustomStatements", []):
            condition = statement.get("Condition", {}).get("NotIpAddress", {})
            if statement.get("Effect") != "Deny" or "aws:SourceIp" not in condition:
                continue
            targets = statement.get("Resource", [])
            for target in [targets] if isinstance(targets, str) else targets:
                if isinstance(target, str) and target.startswith("execute-api:/"):
                    patterns.append(target.removeprefix("execute-api:/"))
    return patterns
