"""template.yaml is the single description of what deploys; these tests keep the code honest to it."""

from __future__ import annotations

import ast
import copy
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from local.resources import state_machine_definition
from local.template import ROOT, Template, load_template

TEMPLATE = Template.load()
FUNCTIONS = TEMPLATE.of_type("AWS::Serverless::Function")


def _packaged(template: dict) -> dict:
    """What `sam package` hands CloudFormation: local code paths replaced by S3 URIs."""
    packaged = copy.deepcopy(template)
    for name, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://artifacts/{name}.zip"
    return packaged


@pytest.fixture(scope="module")
def translated() -> dict:
    """The template as SAM's translator hands it to CloudFormation."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(_packaged(load_template()), {}, NoManagedPolicies())


def test_sam_translator_transforms_the_template(translated):
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert {
        "AWS::Lambda::Function",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGatewayV2::Api",
        "AWS::StepFunctions::StateMachine",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
    } <= types


def test_runtime_matches_the_local_python():
    runtime = TEMPLATE.body["Globals"]["Function"]["Runtime"]
    assert runtime == f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_handler_resolves_to_a_callable_in_a_fresh_process(logical_id):
    """Import each handler as Lambda would (CodeUri on the path), in its own process and environment."""
    props = FUNCTIONS[logical_id]["Properties"]
    module, _, attribute = props["Handler"].rpartition(".")
    code = (
        "import importlib, sys; "
        f"sys.path.insert(0, {str(ROOT / props['CodeUri'])!r}); "
        f"assert callable(getattr(importlib.import_module({module!r}), {attribute!r}))"
    )
    env = {**os.environ, **TEMPLATE.function_environment(logical_id), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_function_folders_do_not_share_top_level_module_names():
    """All functions run in one process locally, and each one's CodeUri is a sys.path root."""
    seen: dict[str, str] = {}
    for logical_id, resource in FUNCTIONS.items():
        code_dir = ROOT / resource["Properties"]["CodeUri"]
        for entry in code_dir.iterdir():
            if (entry.suffix == ".py" and entry.stem != "app") or (entry.is_dir() and (entry / "__init__.py").exists()):
                assert entry.stem not in seen, f"{entry.stem} is in {seen.get(entry.stem)} and {logical_id}"
                seen[entry.stem] = logical_id


def test_state_machine_definition_is_valid_json_after_substitution():
    definition = state_machine_definition(TEMPLATE, "BacktestStateMachine")
    assert definition["StartAt"] in definition["States"]
    assert "${" not in json.dumps(definition)


# ---------------------------------------------------------------- tables <-> PynamoDB models
def _models():
    from pynamodb.models import Model

    import adapters.models

    for info in pkgutil.iter_modules(adapters.models.__path__):
        importlib.import_module(f"adapters.models.{info.name}")
    found, stack = [], list(Model.__subclasses__())
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        if model.__module__.startswith("adapters.models."):
            found.append(model)
    return found


def _table_names_by_env_var() -> dict[str, str]:
    """Env var -> logical id of the table it names (`VAR: !Ref SomeTable`)."""
    names = {}
    variables = dict(TEMPLATE.body["Globals"]["Function"]["Environment"]["Variables"])
    for resource in FUNCTIONS.values():
        variables.update(resource["Properties"].get("Environment", {}).get("Variables", {}))
    tables = TEMPLATE.of_type("AWS::DynamoDB::Table")
    for var, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in tables:
            names[var] = value["Ref"]
    return names


def _model_schemas_under_template_names() -> dict[str, dict]:
    """Import the models in a fresh process whose env names each table by its logical id."""
    env = {**os.environ, **{var: f"table-{logical}" for var, logical in _table_names_by_env_var().items()}}
    code = (
        "import json; from tests.test_template import _models, _model_schema; "
        "print(json.dumps({m.Meta.table_name: _model_schema(m) for m in _models()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _schema(attributes: list, keys: list, indexes: list, ttl: str | None) -> dict:
    """A table's schema in one comparable shape (attribute/key lists use CloudFormation's names)."""
    # DynamoDB key schemas list HASH before RANGE; PynamoDB lists them by attribute name.
    key_pairs = lambda key_schema: sorted(  # noqa: E731
        ([k["AttributeName"], k["KeyType"]] for k in key_schema),
        key=lambda pair: pair[1],
    )
    return {
        "attributes": sorted([a["AttributeName"], a["AttributeType"]] for a in attributes),
        "keys": key_pairs(keys),
        "indexes": sorted(
            [
                i.get("IndexName", i.get("index_name")),
                key_pairs(i.get("KeySchema", i.get("key_schema"))),
                i.get("Projection", i.get("projection"))["ProjectionType"],
            ]
            for i in indexes
        ),
        "ttl": ttl,
    }


def _model_schema(model) -> dict:
    schema = model._get_schema()
    ttl = next((name for name, attr in model.get_attributes().items() if type(attr).__name__ == "TTLAttribute"), None)
    return _schema(
        schema["attribute_definitions"], schema["key_schema"], schema.get("global_secondary_indexes", []), ttl
    )


def _template_schema(props: dict) -> dict:
    ttl = props.get("TimeToLiveSpecification", {})
    return _schema(
        props["AttributeDefinitions"],
        props["KeySchema"],
        props.get("GlobalSecondaryIndexes", []),
        ttl.get("AttributeName") if ttl.get("Enabled") else None,
    )


def test_every_model_has_a_template_table_with_the_same_schema():
    models = _model_schemas_under_template_names()
    tables = TEMPLATE.of_type("AWS::DynamoDB::Table")
    assert models, "no PynamoDB models found"
    for table_name, schema in models.items():
        assert table_name.startswith("table-"), f"model table {table_name!r} is not named by a template env var"
        logical_id = table_name.removeprefix("table-")
        assert _template_schema(tables[logical_id]["Properties"]) == schema, logical_id


def test_every_template_table_is_owned_by_a_model_or_powertools():
    owned = {name.removeprefix("table-") for name in _model_schemas_under_template_names()}
    # Powertools' idempotency layer owns its table's schema (pk `id`, TTL `expiration`).
    owned.add("IdempotencyTable")
    assert set(TEMPLATE.of_type("AWS::DynamoDB::Table")) == owned


# ---------------------------------------------------------------- layering
def test_shared_domain_package_never_imports_aws_sdks():
    forbidden = {"boto3", "botocore", "pynamodb", "aws_lambda_powertools", "adapters", "functions", "local"}
    for path in Path(ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.relative_to(ROOT)} imports {name}"


# What users own: their accounts, strategies, runs, imports, transactions, candles and results.
# Sessions, connections, rate-limit counters, idempotency records and the web bucket are transient.
USER_DATA = {
    "UsersTable",
    "StrategiesTable",
    "BacktestsTable",
    "OptimizationsTable",
    "TransactionsTable",
    "TransactionJobsTable",
    "CandleImportsTable",
    "CandlesBucket",
    "ImportsBucket",
    "ResultsBucket",
}
TRANSIENT = {"SessionsTable", "ConnectionsTable", "RateLimitsTable", "IdempotencyTable", "WebBucket"}


def test_every_table_and_bucket_is_classified_as_user_data_or_transient():
    stores = {**TEMPLATE.of_type("AWS::DynamoDB::Table"), **TEMPLATE.of_type("AWS::S3::Bucket")}
    assert set(stores) == USER_DATA | TRANSIENT


@pytest.mark.parametrize("logical_id", sorted(USER_DATA))
def test_user_data_survives_deleting_or_replacing_the_stack(logical_id):
    resource = TEMPLATE.resources[logical_id]
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    if resource["Type"] == "AWS::DynamoDB::Table":
        assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_sam_build_has_no_cache_that_could_serve_stale_layer_code():
    """SAM's build cache keys a layer by its own folder; the domain layer copies shared/ and adapters/."""
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for environment in config.values():
        if isinstance(environment, dict):
            assert not environment.get("build", {}).get("parameters", {}).get("cached", False)


S3_TRIGGERED = sorted(
    logical_id
    for logical_id, resource in FUNCTIONS.items()
    if any(event["Type"] == "S3" for event in resource["Properties"].get("Events", {}).values())
)


def test_the_s3_triggered_functions_are_the_three_imports():
    assert S3_TRIGGERED == ["BatchImportFunction", "CandleImportFunction", "TransactionImportFunction"]


@pytest.mark.parametrize("logical_id", S3_TRIGGERED)
def test_an_s3_triggered_function_hands_events_it_failed_to_the_dead_letter_queue(translated, logical_id):
    queue_arn = {"Fn::GetAtt": ["ImportFailuresQueue", "Arn"]}
    assert FUNCTIONS[logical_id]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    # What deploys: the function's EventInvokeConfig on $LATEST (what S3 invokes)...
    resources = translated["Resources"]
    configs = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig" and r["Properties"]["FunctionName"] == {"Ref": logical_id}
    ]
    assert configs == [
        {
            "FunctionName": {"Ref": logical_id},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 21_600,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        }
    ]
    # ...and its role may send to the queue (SAM adds the statement for the destination)
    statements = [
        statement
        for policy in resources[f"{logical_id}Role"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": queue_arn} in statements


def test_the_dead_letter_queue_keeps_events_two_weeks_encrypted_and_is_an_output():
    queue = TEMPLATE.resources["ImportFailuresQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"] == {"MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": True}
    assert TEMPLATE.body["Outputs"]["ImportFailuresQueueUrl"]["Value"] == {"Ref": "ImportFailuresQueue"}
