"""DynamoDB and S3 implementations of the API's ports (`shared.services.ports`).

Each repository takes its PynamoDB model class (or boto3 client), returns `shared.services.records`
and raises `shared.errors`; `bind` points a model at a given table and endpoint.
"""
