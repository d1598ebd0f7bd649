"""Oratio core: domain models, policies and ports shared by Lambdas, AgentCore code and the CDK app."""
