"""Pure domain logic: no boto3, no pynamodb, no environment."""
