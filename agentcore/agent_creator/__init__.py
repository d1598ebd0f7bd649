"""The AgentCreator runtime on AgentCore Runtime (and locally on 127.0.0.1): runs jobs the vendor API launches."""
