"""PynamoDB models: each table's schema is declared here once and template.yaml must agree
(tests/test_template.py compares them)."""
