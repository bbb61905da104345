"""wrapper: turn any executable into an AWS Lambda function with one YAML file."""

__version__ = "0.1.0"
