"""Read template.yaml the way CloudFormation would, for the local stack.

The local stack keeps no list of resources of its own: it loads the SAM template, resolves
the intrinsic functions it uses (Ref, Fn::GetAtt, Fn::Sub, Fn::Join) against local physical
names, and provisions what it finds. An intrinsic it does not know is an error, not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "backtest-local"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long form."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506


def parameter_overrides(text: str) -> dict[str, str]:
    """`Name=value Name2=value2`, the form `sam deploy --parameter-overrides` takes."""
    pairs = [item.partition("=") for item in text.split()]
    malformed = [name for name, equals, _ in pairs if not equals or not name]
    if malformed:
        raise ValueError(f"parameter overrides are Name=value pairs, got {text!r}")
    return {name: value for name, _, value in pairs}


def _bucket_name(logical_id: str) -> str:
    return f"{STACK_NAME}-{logical_id}".lower()


@dataclass
class Template:
    """A loaded template plus the local physical identity of each resource."""

    body: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)  # resolved string -> local string

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH, **parameters: Any) -> Template:
        body = load_template(path)
        defaults = {name: spec.get("Default") for name, spec in body.get("Parameters", {}).items()}
        unknown = sorted(set(parameters) - set(defaults))
        if unknown:
            raise ValueError(f"the template has no parameters {', '.join(unknown)}")
        return cls(body=body, parameters={**defaults, **parameters})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res["Type"] == resource_type}

    # ------------------------------------------------------------ physical identity
    def physical_name(self, logical_id: str) -> str:
        """What `Ref` returns for a resource (CloudFormation's convention per type)."""
        resource = self.resources[logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            return self.resolve(props["BucketName"]) if "BucketName" in props else _bucket_name(logical_id)
        if kind == "AWS::Serverless::StateMachine":
            return self.arn(logical_id)
        if kind in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::Api"):
            return logical_id.lower()
        return f"{STACK_NAME}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = f"{STACK_NAME}-{logical_id}"
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.physical_name(logical_id)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        raise ValueError(f"no local ARN for {logical_id} ({kind})")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("Name", "QueueName"):
            return f"{STACK_NAME}-{logical_id}"
        raise ValueError(f"unsupported attribute {logical_id}.{attribute}")

    # ------------------------------------------------------------ intrinsics
    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.physical_name(name)
        raise ValueError(f"unresolvable Ref {name!r}")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                return str(self.get_att(*expr.split(".", 1)))
            return str(self._ref(expr))

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside `value` to a local concrete value."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                resolved = self._sub(text, variables)
                return self.overrides.get(resolved, resolved)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
            if key.startswith("Fn::"):
                raise ValueError(f"intrinsic {key} is not supported by the local stack")
        return {k: self.resolve(v) for k, v in value.items()}

    # ------------------------------------------------------------ functions
    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals' variables overlaid with the function's own, resolved."""
        globals_env = self.body.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        props = self.resources[logical_id].get("Properties", {})
        own_env = props.get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in {**globals_env, **own_env}.items()}

    def function_setting(self, logical_id: str, key: str) -> Any:
        props = self.resources[logical_id].get("Properties", {})
        return props.get(key, self.body.get("Globals", {}).get("Function", {}).get(key))
