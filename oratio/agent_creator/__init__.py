"""AgentCreator: a vendor's SOP becomes a reviewed, tested, versioned agent definition (see ARCHITECTURE.md)."""
