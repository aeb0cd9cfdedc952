"""Domain package of the backtesting service: pure Python, NumPy and pyarrow, no AWS SDK.

Everything here is importable by the Lambda functions (through the domain layer), the CLI
and the tests alike; AWS access lives in `adapters`.
"""

__version__ = "0.1.0"
