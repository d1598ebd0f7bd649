"""AWS adapters behind AgentCreator's ports: Bedrock Converse (the stage model), S3 (artifacts and large
outputs), DynamoDB (jobs and stage records)."""
