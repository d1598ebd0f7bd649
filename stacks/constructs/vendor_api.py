"""The vendor API: a Cognito user pool for vendors, an API Gateway REST API in front of the vendor API Lambda,
and the Powertools idempotency table behind `Idempotency-Key`.

Routing: a greedy `ANY /api/v1/{proxy+}` behind the Cognito authorizer reaches the Lambda, whose Powertools
REST resolver owns the routes (so the OpenAPI document generated from the code stays the one route table).
`GET /api/v1/health` and `GET /api/v1/openapi.json` are explicit resources without an authorizer; API Gateway
matches explicit resources before the greedy proxy, so only those two methods are public.

The vendor id comes from the ID token's `custom:vendor_id` claim (custom attributes are in ID tokens only),
which API Gateway passes to the Lambda at `requestContext.authorizer.claims`.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_creator.jobs import SOP_TEXT_MEDIA_TYPES
from oratio.tables import (
    AGENT_DEFINITIONS,
    AGENTS,
    AUDIT,
    CONVERSATIONS,
    CUSTOMER_CONTEXT,
    KNOWLEDGE_DOCUMENTS,
    NUMBERS,
    PROVISIONING_JOBS,
    TENANT_STATE,
    USAGE,
    TableSpec,
)
from oratio.vendors.settings import (
    DELETED_RETENTION_ENV_VAR,
    IDEMPOTENCY_TABLE_ENV_VAR,
    MAX_BODY_BYTES_ENV_VAR,
    RATE_LIMIT_ENV_VAR,
    TENANT_PARAMETER_PREFIX_ENV_VAR,
    VENDOR_TABLES,
)
from stacks.constructs.data_tables import PlatformTables
from stacks.constructs.lambda_function import LOG_RETENTION, OratioFunction
from stacks.constructs.storage import runtime_secrets_arn
from stacks.nag import acknowledge, nag_arn
from stacks.names import PROJECT, Outputs, vendor_api_role_name

# CDK context key (cdk.json or `-c`) that overrides `VendorApiLimits` defaults, e.g.
# {"oratio:vendorApi": {"stage_rate_limit": 100}}.
CONTEXT_KEY = "oratio:vendorApi"
STAGE_NAME = "prod"
API_BASE_PATH = ("api", "v1")
PUBLIC_ROUTES = ("health", "openapi.json")  # GET only, no authorizer
VENDOR_ID_CLAIM = "custom:vendor_id"
VENDOR_ID_ATTRIBUTE = "vendor_id"
TENANT_PARAMETER_PREFIX = f"/{PROJECT}/tenants"


# Item actions per table. The API serves every vendor, so `dynamodb:LeadingKeys` cannot pin one vendor:
# vendor scoping lives in the keys the handler builds from the authorizer's claim (tested per endpoint).
TABLE_ACTIONS: dict[TableSpec, tuple[str, ...]] = {
    AGENTS: ("GetItem", "PutItem", "Query"),
    # definition versions: written only in the agent's own transaction, never updated or deleted
    AGENT_DEFINITIONS: ("GetItem", "PutItem", "Query"),
    CONVERSATIONS: ("GetItem", "Query"),
    PROVISIONING_JOBS: ("GetItem", "PutItem"),
    # agent slots, number owners and rate windows (changed in transactions with the agent item); channel bindings
    TENANT_STATE: ("GetItem", "PutItem", "UpdateItem", "DeleteItem"),
    KNOWLEDGE_DOCUMENTS: ("GetItem", "PutItem", "Query"),
    # the number registry, read only: whether the vendor's tenant owns a number an agent asks for
    NUMBERS: ("GetItem",),
    # customer profiles and the links a vendor makes between identities (transactions: per-item actions)
    CUSTOMER_CONTEXT: ("GetItem", "PutItem", "DeleteItem", "Query", "UpdateItem", "ConditionCheckItem"),
}
assert set(TABLE_ACTIONS) == set(VENDOR_TABLES)
# The operations routes (oratio/vendors/api/operations_routes.py): usage by day, and the append-only audit log (a put
# conditioned on a new key; no update, no delete, ever).
OPERATIONS_TABLE_ACTIONS: dict[TableSpec, tuple[str, ...]] = {USAGE: ("Query",), AUDIT: ("PutItem", "Query")}
TABLE_INDEXES: dict[TableSpec, tuple[str, ...]] = {CONVERSATIONS: ("by_agent",)}  # conversations of an agent
# Powertools' DynamoDBPersistenceLayer default attribute names.
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"
IDEMPOTENCY_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")


class VendorApiLimits(BaseModel):
    """Limits of the vendor API; the defaults live here, overrides come from CDK context `oratio:vendorApi`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage_rate_limit: float = Field(default=50, gt=0, description="steady requests per second, all vendors")
    stage_burst_limit: int = Field(default=100, gt=0, description="burst requests, all vendors")
    rate_limit_per_minute: int = Field(default=100, gt=0, description="per vendor, enforced by the handler")
    max_body_bytes: int = Field(default=64 * 1024, gt=0, le=10 * 1024 * 1024, description="handler's body cap")
    minimum_compression_bytes: int = Field(default=1024, ge=0, description="responses above are gzip-able")
    lambda_timeout_seconds: int = Field(default=20, gt=0, lt=29, description="below API Gateway's 29 s")
    lambda_memory_mb: int = Field(default=1024, ge=128)
    deleted_retention_days: int = Field(default=30, gt=0, description="deleted agents are kept this long")

    @classmethod
    def from_context(cls, value: Any) -> VendorApiLimits:
        """Defaults, overridden by the context value (a mapping) when one is set."""
        return cls.model_validate(value or {})


class VendorApi(Construct):
    """User pool + app client, REST API (stage `prod`), vendor API function, idempotency table.

    Public attributes: `user_pool`, `user_pool_client`, `api`, `authorizer`, `handler` (an `OratioFunction`),
    `idempotency_table`, `access_logs`, `limits`, `url` (the stage URL).
    """

    def __init__(self, scope: Construct, construct_id: str, *, tables: PlatformTables) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.limits = VendorApiLimits.from_context(self.node.try_get_context(CONTEXT_KEY))
        self.user_pool, self.user_pool_client = self._user_pool()
        self.idempotency_table = self._idempotency_table()
        self.handler = self._handler(tables)
        self.api, self.access_logs = self._rest_api()
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[self.user_pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.minutes(5),
        )
        self._routes()
        self._gateway_responses()
        self.url = self.api.url

        CfnOutput(stack, Outputs.VENDOR_API_URL, value=self.api.url_for_path("/" + "/".join(API_BASE_PATH)))
        CfnOutput(stack, Outputs.VENDOR_USER_POOL_ID, value=self.user_pool.user_pool_id)
        CfnOutput(stack, Outputs.VENDOR_USER_POOL_CLIENT_ID, value=self.user_pool_client.user_pool_client_id)

    # --- identity
    def _user_pool(self) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            "Vendors",
            user_pool_name=f"{PROJECT}-vendors",
            self_sign_up_enabled=False,  # the platform operator invites vendors
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            sign_in_case_sensitive=False,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            custom_attributes={
                # Immutable: a user can never move to another vendor, not even through an admin update.
                VENDOR_ID_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=False),
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Vendors control agents that talk to their customers: a second factor is required, TOTP only
            # (no SMS role, no SMS spend).
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Threat protection (compromised credentials, adaptive authentication) needs the Plus plan; it
            # is billed per monthly active user, and vendor users are few.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        client = pool.add_client(
            "ApiClient",
            user_pool_client_name=f"{PROJECT}-vendor-api",
            generate_secret=False,  # public clients (CLI, browser) cannot keep a secret
            auth_flows=cognito.AuthFlow(user_srp=True),  # the password never leaves the client
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True, email_verified=True)
            .with_custom_attributes(VENDOR_ID_ATTRIBUTE),
            # The vendor id is not writable through the client (and immutable anyway).
            write_attributes=cognito.ClientAttributes().with_standard_attributes(email=True),
        )
        return pool, client

    # --- data
    def _idempotency_table(self) -> dynamodb.Table:
        """Powertools idempotency records: short-lived (TTL), so the table goes with the stack."""
        return dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name=IDEMPOTENCY_KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )

    # --- compute
    def _handler(self, tables: PlatformTables) -> OratioFunction:
        stack = Stack.of(self)
        handler = OratioFunction(
            self,
            "Handler",
            handler_folder="vendor_api",
            service_name="vendor_api",
            description="Oratio vendor API: agents, lifecycle, provisioning, knowledge, conversations",
            timeout_seconds=self.limits.lambda_timeout_seconds,
            memory_size=self.limits.lambda_memory_mb,
            role_name=vendor_api_role_name(stack.region),
            environment={
                **{
                    spec.env_var: tables.tables[spec.key].table_name
                    for spec in (*TABLE_ACTIONS, *OPERATIONS_TABLE_ACTIONS)
                },
                IDEMPOTENCY_TABLE_ENV_VAR: self.idempotency_table.table_name,
                MAX_BODY_BYTES_ENV_VAR: str(self.limits.max_body_bytes),
                RATE_LIMIT_ENV_VAR: str(self.limits.rate_limit_per_minute),
                TENANT_PARAMETER_PREFIX_ENV_VAR: TENANT_PARAMETER_PREFIX,
                DELETED_RETENTION_ENV_VAR: str(self.limits.deleted_retention_days),
            },
        )
        for spec, actions in {**TABLE_ACTIONS, **OPERATIONS_TABLE_ACTIONS}.items():
            table = tables.tables[spec.key]
            resources = [table.table_arn, *(f"{table.table_arn}/index/{i}" for i in TABLE_INDEXES.get(spec, ()))]
            handler.role.add_to_policy(
                iam.PolicyStatement(actions=[f"dynamodb:{a}" for a in actions], resources=resources)
            )
        handler.role.add_to_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{a}" for a in IDEMPOTENCY_ACTIONS],
                resources=[self.idempotency_table.table_arn],
            )
        )
        tenant_parameters = stack.format_arn(
            service="ssm", resource="parameter", resource_name=TENANT_PARAMETER_PREFIX.lstrip("/") + "/*"
        )
        handler.role.add_to_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                resources=[tenant_parameters],
            )
        )
        self._allow_channels(handler)
        # Presigned uploads into tenants' knowledge buckets need no grant here: each tenant's bucket policy
        # allows this role (by its fixed name) s3:PutObject on uploads/* only.
        acknowledge(
            handler.role,
            "IAM5",
            "Tenant stacks publish what they deployed under /oratio/tenants/<tenant>/...; the vendor API reads "
            "the vendor's own tenant's parameters, whose names are only known at run time.",
            applies_to="Resource::" + nag_arn(self, tenant_parameters),
        )
        return handler

    def _allow_channels(self, handler: OratioFunction) -> None:
        """Linking channels: the vendors' channel credentials and ElizaOS webhook secrets (written, never returned),
        and web chats started on a tenant's Connect instance."""
        stack = Stack.of(self)
        secrets = [runtime_secrets_arn(self, "*", kind) for kind in ("channels", "elizaos")]
        handler.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteVendorChannelSecrets",
                actions=[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:TagResource",
                ],
                resources=secrets,
            )
        )
        connect = [
            stack.format_arn(service="connect", resource="instance", resource_name=name)
            for name in ("*", "*/contact-flow/*")
        ]
        handler.role.add_to_policy(
            iam.PolicyStatement(sid="StartWebChats", actions=["connect:StartChatContact"], resources=connect)
        )
        for arn, why in (
            *((a, "Vendors' secrets are created at run time, one per tenant and channel under "
               "oratio/<tenant>/channels/ (and oratio/<tenant>/elizaos/), for whichever vendor calls; the handler "
               "builds the name from the caller's vendor id.") for a in secrets),
            *((a, "Web chats start on the calling vendor's own Connect instance and chat flow, read from what its "
               "tenant stack published; instances are per tenant and only known at run time.") for a in connect),
        ):  # fmt: skip
            acknowledge(handler.role, "IAM5", why, applies_to="Resource::" + nag_arn(self, arn))

    def add_signed_route(self, path: tuple[str, ...], method: str, function: lambda_.IFunction) -> apigw.Method:
        """A route under /api/v1 without the Cognito authorizer, for callers that sign their requests instead (the
        function checks the signature before anything else). API Gateway matches it before the greedy proxy."""
        resource = self._base
        for part in path:
            resource = resource.get_resource(part) or resource.add_resource(part)
        route = resource.add_method(
            method, apigw.LambdaIntegration(function, proxy=True), authorization_type=apigw.AuthorizationType.NONE
        )
        reason = (
            "Signed webhook for callers that cannot hold a Cognito token: the function verifies an HMAC signature "
            "with the vendor's own secret (and a five-minute timestamp window) before it reads the body."
        )
        acknowledge(route, "APIG4", reason)
        acknowledge(route, "COG4", reason)
        return route

    def _rest_api(self) -> tuple[apigw.RestApi, logs.LogGroup]:
        access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{PROJECT}-vendor-api",
            description="Oratio vendor API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            min_compression_size=Size.bytes(self.limits.minimum_compression_bytes),
            # An SOP arrives as text: passed on base64-encoded, so bytes that are not UTF-8 reach the route as sent
            # (and are refused there with a clear 400) instead of being mangled into valid text on the way.
            binary_media_types=list(SOP_TEXT_MEDIA_TYPES),
            # Execution logs need the account's API Gateway CloudWatch role; the platform stack is once per
            # account and region, so it owns that account setting.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request logs would hold vendors' data
                throttling_rate_limit=self.limits.stage_rate_limit,
                throttling_burst_limit=self.limits.stage_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
            ),
        )
        acknowledge(
            api,
            "IAM4",
            "API Gateway's account-level CloudWatch role uses AWS's managed AmazonAPIGatewayPushToCloudWatchLogs "
            "policy, the documented way to let API Gateway write execution logs.",
            applies_to="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        )
        acknowledge(
            api,
            "APIG3",
            "No WAF web ACL by default (fixed monthly cost per ACL and rule): every route but two needs a Cognito "
            "token, the stage is throttled and the handler rate-limits per vendor; attach a web ACL per "
            "deployment where required.",
        )
        return api, access_logs

    def _gateway_responses(self) -> None:
        """Answers API Gateway gives itself (authorizer refusals, throttling, oversized requests) in the same
        JSON error shape as the handler's, so clients parse one format."""
        for response_type, status, code, message in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"{code.title().replace('_', '')}Response",
                type=response_type,
                status_code=status,
                templates={
                    "application/json": json.dumps({"error": code, "message": message}),
                },
                response_headers={"Content-Type": "'application/json'"},
            )

    def _routes(self) -> None:
        base = self.api.root
        for part in API_BASE_PATH:
            base = base.add_resource(part)
        self._base = base
        integration = apigw.LambdaIntegration(self.handler.function, proxy=True)
        validator = apigw.RequestValidator(
            self,
            "RequestValidator",
            rest_api=self.api,
            request_validator_name="required-parameters-and-body",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        for route in PUBLIC_ROUTES:
            method = base.add_resource(route).add_method(
                "GET", integration, authorization_type=apigw.AuthorizationType.NONE
            )
            reason = "Health checks and the published OpenAPI document are public by design; they read no vendor data."
            acknowledge(method, "APIG4", reason)
            acknowledge(method, "COG4", reason)
        # Bodies are validated by the handler's pydantic models so a 422 lists every failing field; API
        # Gateway validates that the path is present.
        base.add_resource("{proxy+}").add_method(
            "ANY",
            integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            request_validator=validator,
            request_parameters={"method.request.path.proxy": True},
        )


# (response type, status, error code, message) of API Gateway's own answers; the message is a literal.
GATEWAY_RESPONSES = (
    (
        apigw.ResponseType.UNAUTHORIZED,
        "401",
        "unauthenticated",
        "a valid vendor token is required (Authorization header)",
    ),
    (apigw.ResponseType.ACCESS_DENIED, "403", "forbidden", "this token may not call this API"),
    (apigw.ResponseType.THROTTLED, "429", "rate_limited", "too many requests; retry shortly"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "payload_too_large", "request body too large"),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", "no such path or method in this API"),
    (
        apigw.ResponseType.DEFAULT_5_XX,
        "503",
        "service_unavailable",
        "the service is briefly unavailable; retry shortly",
    ),
)

_ACCESS_LOG_FIELDS = {
    "requestId": apigw.AccessLogField.context_request_id(),
    "ip": apigw.AccessLogField.context_identity_source_ip(),
    "user": apigw.AccessLogField.context_authorizer_claims("sub"),
    "requestTime": apigw.AccessLogField.context_request_time(),
    "httpMethod": apigw.AccessLogField.context_http_method(),
    "resourcePath": apigw.AccessLogField.context_resource_path(),
    "path": apigw.AccessLogField.context_path(),
    "status": apigw.AccessLogField.context_status(),
    "responseLength": apigw.AccessLogField.context_response_length(),
    "responseLatency": apigw.AccessLogField.context_response_latency(),
    "integrationLatency": apigw.AccessLogField.context_integration_latency(),
    "errorType": apigw.AccessLogField.context_error_response_type(),
    "xrayTraceId": apigw.AccessLogField.context_xray_trace_id(),
}
