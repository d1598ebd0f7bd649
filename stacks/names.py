"""Fixed names shared by the stacks, the tests and the scripts: output ids, SSM parameter paths.

Changing one of these renames a deployed resource or output: treat them as an interface.
"""

from __future__ import annotations

PROJECT = "oratio"
METRICS_NAMESPACE = "Oratio"
PLATFORM_STACK_ID = "OratioPlatform"
LOG_RETENTION_DAYS = 30  # every log group (logs.RetentionDays.ONE_MONTH in the Lambda factory)


def tenant_stack_id(tenant_id: str) -> str:
    return "OratioTenant-" + "".join(part.capitalize() for part in tenant_id.split("-"))


# --- SSM parameters: PlatformStack publishes, TenantStack and the vendor API read at deploy/run time.
def platform_table_name_parameter(table_key: str) -> str:
    return f"/{PROJECT}/platform/tables/{table_key}/name"


def console_origin_parameter() -> str:
    """Where PlatformStack publishes the vendor console's origin (https://<distribution domain>)."""
    return f"/{PROJECT}/platform/console/origin"


def tenant_parameter(tenant_id: str, name: str) -> str:
    """Where TenantStack publishes what it deployed (Connect instance, number, knowledge base)."""
    return f"/{PROJECT}/tenants/{tenant_id}/{name}"


def vendor_api_role_name(region: str) -> str:
    """The vendor API function's fixed role name: tenant stacks let it presign uploads into their buckets.
    IAM names are global per account, so the region keeps platforms in two regions apart."""
    return f"{PROJECT}-vendor-api-{region}"


# --- CloudFormation output logical ids.
class Outputs:
    ARTIFACT_BUCKET = "ArtifactBucketName"
    AGENT_CREATOR_RUNTIME_ARN = "AgentCreatorRuntimeArn"
    AGENTS_TABLE = "AgentsTableName"
    CONVERSATIONS_TABLE = "ConversationsTableName"
    CONNECT_INSTANCE_ARN = "ConnectInstanceArn"
    PHONE_NUMBER = "PhoneNumber"
    CALL_ROUTER_ARN = "CallRouterFunctionArn"
    KNOWLEDGE_BUCKET = "KnowledgeBucketName"
    KNOWLEDGE_BASE_ID = "KnowledgeBaseId"
    VECTOR_BUCKET = "VectorBucketName"
    AGENT_RUNTIME_ARN = "AgentRuntimeArn"
    AGENT_ENDPOINT_ARN = "AgentRuntimeEndpointArn"
    VENDOR_API_URL = "VendorApiUrl"
    VENDOR_USER_POOL_ID = "VendorUserPoolId"
    VENDOR_USER_POOL_CLIENT_ID = "VendorUserPoolClientId"
    CONSOLE_URL = "VendorConsoleUrl"
    VOICE_BRIDGE_RUNTIME_ARN = "VoiceBridgeRuntimeArn"
    VOICE_WEBHOOK_URL = "VoiceWebhookUrl"
    CHANNEL_WEBHOOK_URL = "ChannelWebhookUrl"
    SMS_NUMBER = "SmsPhoneNumber"
