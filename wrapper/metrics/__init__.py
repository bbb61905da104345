"""CloudWatch metrics from every invocation, in the Embedded Metric Format (imported only when `metrics:` is set)."""
