"""Sample Lambda events, built from the examples in the AWS documentation each builder cites."""
