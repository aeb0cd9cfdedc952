"""DynamoDB and S3 implementations of the API's ports (`shared.backtests.ports`).

Each repository takes its PynamoDB model class (or boto3 client), returns `shared.backtests.model`
and raises `shared.errors`; `bind` points a model at a given table and endpoint.
"""
