"""The tenant's Amazon Connect contact center: instance, encrypted recording storage, business hours,
customer queue, claimed phone number, contact flows from `contact_flows/` and the Lambda integrations
(the call router here; others through `integrate_lambda`).

Callers dial the claimed number; its inbound flow invokes the call router and routes on its answer (the
AI conversation itself is `stacks/constructs/connect_voice.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, CfnOutput, Fn, RemovalPolicy, Stack, Validations
from aws_cdk import aws_connect as connect
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from oratio.config import TenantConfig
from oratio.config.tenant import WEEKDAYS, OpeningHours
from stacks.constructs.storage import access_log_bucket, private_bucket, publish_tenant_parameters
from stacks.names import Outputs, vendor_api_role_name

INBOUND_FLOW = "inbound"  # contact_flows/inbound.json: the flow the claimed number runs
CHAT_FLOW = "chat"  # contact_flows/chat.json: web chats (StartChatContact) and the SMS number run it
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
# Flow-language Metadata.type → CloudFormation AWS::Connect::ContactFlow Type.
# Construct id of the Lambda that CDK creates once per stack for every AwsCustomResource.
PROVIDER_SINGLETON_ID = "AWS679f53fac002430cb0da5b7982bd2287"
FLOW_TYPES = {
    "contactFlow": "CONTACT_FLOW",
    "customerQueue": "CUSTOMER_QUEUE",
    "customerHold": "CUSTOMER_HOLD",
    "agentWhisper": "AGENT_WHISPER",
}


class ContactFlowTemplateError(ValueError):
    """A contact flow template is unreadable or refers to something the stack cannot supply."""


def render_flow_template(path: Path, values: dict[str, str]) -> str:
    """Return the template's JSON with each `${Name}` replaced by `values[Name]` (a CDK token or text).

    Tokens embedded in the string become an `Fn::Join` in the template, so CloudFormation writes the
    deployed ARNs into the flow. Fails on invalid JSON and on any placeholder not in `values`.
    """
    text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise ContactFlowTemplateError(f"{path}: not valid JSON: {e}") from e
    unknown = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if unknown:
        raise ContactFlowTemplateError(
            f"{path}: unknown placeholder(s) {', '.join('${' + u + '}' for u in unknown)}; "
            f"the stack supplies only {', '.join('${' + k + '}' for k in sorted(values))}"
        )
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def flow_placeholder(stem: str) -> str:
    """The placeholder other flow templates use for a flow's ARN: "agent_whisper" -> "AgentWhisperFlowArn"."""
    return "".join(p.capitalize() for p in re.split(r"[-_]", stem)) + "FlowArn"


def hours_of_operation_config(
    tenant: TenantConfig,
) -> list[connect.CfnHoursOfOperation.HoursOfOperationConfigProperty]:
    """One Connect config entry per open day of the tenant's business hours; closed days are left out."""

    def time_slice(hours: OpeningHours, which: str) -> connect.CfnHoursOfOperation.HoursOfOperationTimeSliceProperty:
        value = hours.open if which == "open" else hours.close
        return connect.CfnHoursOfOperation.HoursOfOperationTimeSliceProperty(hours=value.hour, minutes=value.minute)

    config = []
    for index, day in enumerate(WEEKDAYS):
        hours = tenant.business.hours.day(index)
        if hours is not None:
            config.append(
                connect.CfnHoursOfOperation.HoursOfOperationConfigProperty(
                    day=day.upper(), start_time=time_slice(hours, "open"), end_time=time_slice(hours, "close")
                )
            )
    if not config:
        raise ValueError(
            f"tenant {tenant.tenant_id}: business.hours has no open day; Amazon Connect hours of operation "
            "need at least one (set e.g. monday: '09:00-17:00')"
        )
    return config


class ConnectCenter(Construct):
    """A tenant's Amazon Connect instance with everything a caller's first minute needs.

    Public attributes: `instance`, `queue`, `hours`, `phone_number`, `flows` (by template name),
    `inbound_flow`, `recordings_bucket`, `recordings_key`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        call_router: lambda_.IFunction,
        flows_dir: Path,
        extra_flow_values: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tid = tenant.tenant_id

        self.instance = connect.CfnInstance(
            self,
            "Instance",
            identity_management_type="CONNECT_MANAGED",
            instance_alias=tenant.connect.instance_alias,
            attributes=connect.CfnInstance.AttributesProperty(
                inbound_calls=True,
                outbound_calls=True,
                contactflow_logs=True,  # the flow turns logging on; the instance must allow it
                contact_lens=True,
                auto_resolve_best_voices=True,
                early_media=True,
            ),
        )

        self.recordings_key, self.recordings_bucket = self._recording_storage(tid)

        self.hours = connect.CfnHoursOfOperation(
            self,
            "Hours",
            instance_arn=self.instance.attr_arn,
            name=tenant.connect.hours_of_operation_name,
            description=f"{tenant.business.name} opening hours",
            time_zone=tenant.business.hours.time_zone,
            config=hours_of_operation_config(tenant),
        )
        self.queue = connect.CfnQueue(
            self,
            "CustomerQueue",
            instance_arn=self.instance.attr_arn,
            name=tenant.connect.queue_name,
            description=f"Callers of {tenant.business.name} waiting for a person",
            hours_of_operation_arn=self.hours.attr_hours_of_operation_arn,
            # A full queue sends callers down the flow's apology branch instead of an endless wait.
            max_contacts=tenant.limits.max_concurrent_calls,
        )

        self.integrate_lambda(call_router, "CallRouter")

        self.flows = self._contact_flows(
            tenant,
            flows_dir,
            {
                "CallRouterFunctionArn": call_router.function_arn,
                "CustomerQueueArn": self.queue.attr_queue_arn,
                **(extra_flow_values or {}),
            },
        )
        if INBOUND_FLOW not in self.flows:
            raise ContactFlowTemplateError(f"{flows_dir}/{INBOUND_FLOW}.json is missing: the claimed number needs it")
        self.inbound_flow = self.flows[INBOUND_FLOW]

        self.phone_number = connect.CfnPhoneNumber(
            self,
            "PhoneNumber",
            target_arn=self.instance.attr_arn,
            country_code=tenant.connect.phone_number.country,
            type=tenant.connect.phone_number.type,
            description=f"{tenant.business.name} inbound voice agent",
        )
        self._associate_number_with_flow(self.phone_number, self.inbound_flow, "NumberToInboundFlow")
        published = {
            "connect/instance-arn": self.instance.attr_arn,
            "connect/phone-number": self.phone_number.attr_address,
            "connect/queue-arn": self.queue.attr_queue_arn,
            "connect/inbound-flow-arn": self.inbound_flow.attr_contact_flow_arn,
            "connect/recordings-bucket": self.recordings_bucket.bucket_name,
        }

        self.chat_flow = self.flows.get(CHAT_FLOW)
        self.sms_number: connect.CfnPhoneNumber | None = None
        if self.chat_flow is not None:
            # What the vendor API's StartChatContact needs to start a web chat on this tenant.
            published["connect/chat-flow-arn"] = self.chat_flow.attr_contact_flow_arn
            if tenant.connect.sms is not None:
                self.sms_number = self._import_sms_number(tenant, self.chat_flow)
                published["connect/sms-number"] = self.sms_number.attr_address
        publish_tenant_parameters(self, tid, published)
        # Outputs hang off the stack so their logical ids are exactly the fixed names.
        CfnOutput(stack, Outputs.CONNECT_INSTANCE_ARN, value=self.instance.attr_arn)
        CfnOutput(stack, Outputs.PHONE_NUMBER, value=self.phone_number.attr_address)
        if self.sms_number is not None:
            CfnOutput(stack, Outputs.SMS_NUMBER, value=self.sms_number.attr_address)

    def _import_sms_number(self, tenant: TenantConfig, chat_flow: connect.CfnContactFlow) -> connect.CfnPhoneNumber:
        """Import the tenant's AWS End User Messaging SMS number into the instance (two-way SMS then arrives as chat
        contacts of the SMS subtype) and point it at the chat flow. Requesting and registering the number is the
        operator's (README): carriers review the registration, which no template can do."""
        assert tenant.connect.sms is not None
        number = connect.CfnPhoneNumber(
            self,
            "SmsNumber",
            target_arn=self.instance.attr_arn,
            source_phone_number_arn=tenant.connect.sms.phone_number_arn,
            description=f"{tenant.business.name} two-way SMS (AWS End User Messaging SMS)",
        )
        self._associate_number_with_flow(number, chat_flow, "SmsNumberToChatFlow")
        return number

    def _recording_storage(self, tenant_id: str) -> tuple[kms.Key, s3.Bucket]:
        """A customer-managed key and an encrypted, versioned bucket for call recordings and chats."""
        key = kms.Key(
            self,
            "RecordingsKey",
            description=f"Encrypts {tenant_id}'s call recordings and chat transcripts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Recordings are the tenant's customers' data: the bucket outlives the stack (RETAIN).
        bucket = private_bucket(
            self,
            "Recordings",
            access_logs=access_log_bucket(self, "RecordingsAccessLogs"),
            log_prefix="recordings/",
            key=key,
        )
        # The vendor API hands out presigned GETs of recordings: its role (by its fixed name) may read them.
        vendor_api_role = iam.ArnPrincipal(
            Stack.of(self).format_arn(
                service="iam", region="", resource="role", resource_name=vendor_api_role_name(Stack.of(self).region)
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VendorApiReadsRecordings",
                principals=[vendor_api_role],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects("call-recordings/*")],
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VendorApiFindsRecordings",
                principals=[vendor_api_role],
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["call-recordings/*"]}},
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VendorApiDecryptsRecordings",
                principals=[vendor_api_role],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
        for resource_type, prefix in (
            ("CALL_RECORDINGS", "call-recordings"),
            ("CHAT_TRANSCRIPTS", "chat-transcripts"),
        ):
            connect.CfnInstanceStorageConfig(
                self,
                "Storage" + "".join(p.capitalize() for p in resource_type.split("_")),
                instance_arn=self.instance.attr_arn,
                resource_type=resource_type,
                storage_type="S3",
                s3_config=connect.CfnInstanceStorageConfig.S3ConfigProperty(
                    bucket_name=bucket.bucket_name,
                    bucket_prefix=prefix,
                    encryption_config=connect.CfnInstanceStorageConfig.EncryptionConfigProperty(
                        encryption_type="KMS", key_id=key.key_arn
                    ),
                ),
            )
        return key, bucket

    def integrate_lambda(self, function: lambda_.IFunction, name: str) -> connect.CfnIntegrationAssociation:
        """Make a function selectable in this instance's flows and let only this instance invoke it."""
        association = connect.CfnIntegrationAssociation(
            self,
            f"{name}Integration",
            instance_id=self.instance.attr_arn,
            integration_type="LAMBDA_FUNCTION",
            integration_arn=function.function_arn,
        )
        lambda_.CfnPermission(
            self,
            f"{name}InvokeByConnect",
            action="lambda:InvokeFunction",
            function_name=function.function_arn,
            principal="connect.amazonaws.com",
            # Confused-deputy guard: only this tenant's instance, in this account.
            source_arn=self.instance.attr_arn,
            source_account=Stack.of(self).account,
        )
        return association

    def _contact_flows(
        self, tenant: TenantConfig, flows_dir: Path, values: dict[str, str]
    ) -> dict[str, connect.CfnContactFlow]:
        templates = sorted(flows_dir.glob("*.json"))
        if not templates:
            raise ContactFlowTemplateError(f"{flows_dir}: no contact flow templates (*.json)")
        # Flows that other flows point at (whispers, queue and hold flows) come first; each one's ARN is then a
        # placeholder for the others: agent_whisper.json -> ${AgentWhisperFlowArn}.
        metadata = {path: json.loads(path.read_text(encoding="utf-8")).get("Metadata", {}) for path in templates}
        templates.sort(key=lambda path: metadata[path].get("type", "contactFlow") == "contactFlow")
        values = dict(values)
        flows: dict[str, connect.CfnContactFlow] = {}
        for path in templates:
            flow_type = FLOW_TYPES.get(metadata[path].get("type", "contactFlow"))
            if flow_type is None:
                raise ContactFlowTemplateError(
                    f"{path}: Metadata.type {metadata[path].get('type')!r} is not one of {sorted(FLOW_TYPES)}"
                )
            flows[path.stem] = connect.CfnContactFlow(
                self,
                "Flow" + "".join(p.capitalize() for p in re.split(r"[-_]", path.stem)),
                instance_arn=self.instance.attr_arn,
                name=metadata[path].get("name", path.stem),
                description=metadata[path].get("description", f"Oratio flow {path.stem} for {tenant.tenant_id}"),
                type=flow_type,
                state="ACTIVE",
                content=render_flow_template(path, values),
            )
            values[flow_placeholder(path.stem)] = flows[path.stem].attr_contact_flow_arn
        return flows

    def _associate_number_with_flow(
        self, number: connect.CfnPhoneNumber, flow: connect.CfnContactFlow, construct_id: str
    ) -> None:
        """Point a number at a flow (the claimed number at the inbound flow, the SMS number at the chat flow).

        AWS::Connect::PhoneNumber has no contact-flow property, so a custom resource calls
        AssociatePhoneNumberContactFlow on create/update and DisassociatePhoneNumberContactFlow on delete.
        """
        # ARNs: …:phone-number/<id> and …:instance/<instance-id>/contact-flow/<flow-id>.
        phone_number_id = Fn.select(1, Fn.split("/", number.attr_phone_number_arn))
        flow_id = Fn.select(3, Fn.split("/", flow.attr_contact_flow_arn))
        associate = cr.AwsSdkCall(
            service="Connect",
            action="associatePhoneNumberContactFlow",
            parameters={
                "PhoneNumberId": phone_number_id,
                "InstanceId": self.instance.attr_id,
                "ContactFlowId": flow_id,
            },
            physical_resource_id=cr.PhysicalResourceId.of(number.attr_phone_number_arn),
        )
        cr.AwsCustomResource(
            self,
            construct_id,
            on_create=associate,
            on_update=associate,
            on_delete=cr.AwsSdkCall(
                service="Connect",
                action="disassociatePhoneNumberContactFlow",
                parameters={"PhoneNumberId": phone_number_id, "InstanceId": self.instance.attr_id},
            ),
            install_latest_aws_sdk=False,  # the runtime's bundled SDK has both calls; no npm at deploy
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=[
                            "connect:AssociatePhoneNumberContactFlow",
                            "connect:DisassociatePhoneNumberContactFlow",
                        ],
                        resources=[number.attr_phone_number_arn, flow.attr_contact_flow_arn, self.instance.attr_arn],
                    )
                ]
            ),
        )
        # The provider function is a stack-wide singleton created by AwsCustomResource.
        provider = Stack.of(self).node.try_find_child(PROVIDER_SINGLETON_ID)
        if provider is not None:
            Validations.of(provider).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    reason="CDK's AwsCustomResource provider uses AWSLambdaBasicExecutionRole only to write "
                    "its own CloudWatch logs; its Connect calls have their own policy scoped to this "
                    "tenant's number, flow and instance.",
                )
            )
