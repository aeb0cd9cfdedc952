"""Use-cases of the REST API (accounts, strategies, backtests, trades, rate limits).

Pure Python: each service takes the repositories it needs (the ports in `ports`) and raises
`shared.errors`; the HTTP layer turns those into status codes and the AWS adapters implement
the ports. Nothing here imports boto3, NumPy or pyarrow at module level, so the API's cold start
stays small; the strategy validator is imported on first use.
"""
