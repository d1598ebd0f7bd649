"""AWS adapters of the AgentCreator launcher."""
