"""CDK stacks (PlatformStack, TenantStack) and the constructs they wire together."""
