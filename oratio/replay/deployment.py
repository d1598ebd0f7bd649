"""A tenant stack as CloudFormation would deploy it, read from its synthesized template: the contact flows (with
every `${...}` placeholder resolved to the ARN CloudFormation would write), the Lambda functions the flows and
bots invoke (handler, environment, code asset), the Lex bots (intents, sample utterances, slot types, code
hook), and the queue with its hours of operation.

Physical names are made up deterministically from logical ids (the same template always gives the same ARNs);
`AWS::SSM::Parameter::Value<String>` parameters are resolved through the given lookup, as CloudFormation reads
them from SSM at deploy time.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<String>"
_NAMESPACE = uuid.UUID("6f1c2b57-3d1e-4d4f-9a0b-0c0a11c0ffee")


class DeploymentError(ValueError):
    """The template lacks something the replay needs, or uses an intrinsic it cannot resolve."""


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    asset_hash: str
    timeout_seconds: int


@dataclass(frozen=True)
class Intent:
    name: str
    utterances: tuple[str, ...]
    parent: str | None = None
    slots: tuple[tuple[str, str], ...] = ()  # (slot name, slot type name)


@dataclass(frozen=True)
class SlotType:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class BotSpec:
    """One Lex V2 bot behind an alias: what the emulation reads to understand callers."""

    alias_arn: str
    alias_id: str
    alias_name: str
    bot_id: str
    bot_name: str
    version: str
    locale_id: str
    nlu_threshold: float
    intents: tuple[Intent, ...]
    slot_types: tuple[SlotType, ...]
    code_hook_arn: str | None
    speech_to_speech: bool


@dataclass(frozen=True)
class HoursSpec:
    arn: str
    name: str
    time_zone: str
    days: dict[str, tuple[tuple[int, int], tuple[int, int]]]  # MONDAY -> ((h, m) start, (h, m) end)


@dataclass(frozen=True)
class QueueSpec:
    arn: str
    name: str
    max_contacts: int | None
    hours_arn: str | None


@dataclass(frozen=True)
class FlowSpec:
    name: str
    arn: str
    type: str
    content: dict[str, Any]
    logical_id: str


@dataclass
class Deployment:
    """The resolved view of one synthesized tenant stack."""

    template: Mapping[str, Any]
    region: str = "us-east-1"
    account: str = "111122223333"
    stack_name: str = "OratioTenant"
    ssm: Callable[[str], str] | None = None
    # Physical ids the local stand-ins made for resources ("<logical id>" for a Ref, "<logical id>.<attribute>"
    # for a GetAtt), e.g. a secret created on moto or the number the tenant's claimed number stands in as.
    physical: dict[str, str] = field(default_factory=dict)
    _by_arn: dict[str, str] = field(default_factory=dict)
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def _cached(self, kind: str, key: str, build: Callable[[], Any]) -> Any:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = build()
        return self._cache[(kind, key)]

    def __post_init__(self) -> None:
        self.resources: Mapping[str, Any] = self.template.get("Resources", {})
        for logical_id, resource in self.resources.items():
            for attribute in _ARN_ATTRIBUTES.get(resource.get("Type", ""), ()):
                self._by_arn[self.attribute(logical_id, attribute)] = logical_id
            if resource.get("Type") == "AWS::Lambda::Function":
                self._by_arn[self.ref(logical_id)] = logical_id

    # ------------------------------------------------------------------------------- physical ids
    def _uuid(self, logical_id: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.stack_name}/{logical_id}"))

    def _short_id(self, logical_id: str) -> str:
        return hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:10].upper()

    def ref(self, logical_id: str) -> str:
        if logical_id in self.template.get("Parameters", {}):
            parameter = self.template["Parameters"][logical_id]
            if parameter.get("Type") == SSM_PARAMETER_TYPE:
                if self.ssm is None:
                    raise DeploymentError(f"parameter {logical_id} is read from SSM and no SSM lookup was given")
                lookup = self.ssm
                return str(self._cached("ssm", logical_id, lambda: lookup(str(parameter["Default"]))))
            return str(parameter.get("Default", ""))
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        if logical_id in self.physical:
            return self.physical[logical_id]
        resource = self._resource(logical_id)
        if resource["Type"] == "AWS::Lambda::Function":
            return str(resource.get("Properties", {}).get("FunctionName") or logical_id)
        return logical_id

    def attribute(self, logical_id: str, name: str) -> str:
        if f"{logical_id}.{name}" in self.physical:
            return self.physical[f"{logical_id}.{name}"]
        kind = self._resource(logical_id)["Type"]
        r, a = self.region, self.account
        if kind == "AWS::Lambda::Function" and name == "Arn":
            return f"arn:aws:lambda:{r}:{a}:function:{self.ref(logical_id)}"
        if kind == "AWS::Lex::Bot" and name == "Id":
            return self._short_id(logical_id)
        if kind == "AWS::Lex::Bot" and name == "Arn":
            return f"arn:aws:lex:{r}:{a}:bot/{self._short_id(logical_id)}"
        if kind == "AWS::Lex::BotVersion" and name == "BotVersion":
            return "1"
        if kind == "AWS::Lex::BotAlias" and name in {"Arn", "BotAliasId"}:
            alias_id = self._short_id(logical_id)
            if name == "BotAliasId":
                return alias_id
            bot_id = self.resolve(self._resource(logical_id)["Properties"]["BotId"])
            return f"arn:aws:lex:{r}:{a}:bot-alias/{bot_id}/{alias_id}"
        if kind == "AWS::Connect::Instance":
            arn = f"arn:aws:connect:{r}:{a}:instance/{self._uuid(logical_id)}"
            return self._uuid(logical_id) if name == "Id" else arn
        connect_paths = {
            "AWS::Connect::Queue": ("QueueArn", "queue"),
            "AWS::Connect::HoursOfOperation": ("HoursOfOperationArn", "operating-hours"),
            "AWS::Connect::ContactFlow": ("ContactFlowArn", "contact-flow"),
            "AWS::Connect::PhoneNumber": ("PhoneNumberArn", "phone-number"),
        }
        if kind in connect_paths and name == connect_paths[kind][0]:
            instance = self.resolve(self._resource(logical_id)["Properties"].get("InstanceArn")
                                    or self._resource(logical_id)["Properties"].get("TargetArn"))  # fmt: skip
            return f"{instance}/{connect_paths[kind][1]}/{self._uuid(logical_id)}"
        if kind == "AWS::BedrockAgentCore::Runtime" and name == "AgentRuntimeArn":
            return f"arn:aws:bedrock-agentcore:{r}:{a}:runtime/{logical_id}-{self._short_id(logical_id)}"
        return f"{logical_id}.{name}"

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        try:
            return self.resources[logical_id]  # type: ignore[no-any-return]
        except KeyError:
            raise DeploymentError(f"the template has no resource {logical_id!r}") from None

    def resolve(self, value: Any) -> Any:
        """The value with CloudFormation's intrinsic functions applied (those CDK emits for these resources)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Fn::GetAtt":
                logical_id, name = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.attribute(str(logical_id), str(name))
            if key == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(str(separator))
            if key == "Fn::Sub" and isinstance(argument, str):
                return _substitute(argument, self)
            if key.startswith("Fn::"):
                raise DeploymentError(f"the replay cannot resolve {key}")
        return {k: self.resolve(v) for k, v in value.items()}

    # ------------------------------------------------------------------------------------- views
    def _of_type(self, kind: str) -> list[str]:
        return [logical_id for logical_id, r in self.resources.items() if r.get("Type") == kind]

    def logical_id_of(self, arn: str) -> str:
        try:
            return self._by_arn[arn]
        except KeyError:
            raise DeploymentError(f"no resource of the template has the ARN or name {arn!r}") from None

    def flows(self) -> dict[str, FlowSpec]:
        """The contact flows by name, with their content exactly as CloudFormation would deploy it."""
        return self._cached("flows", "", self._flows)  # type: ignore[no-any-return]

    def _flows(self) -> dict[str, FlowSpec]:
        flows = {}
        for logical_id in self._of_type("AWS::Connect::ContactFlow"):
            properties = self.resources[logical_id]["Properties"]
            content = json.loads(self.resolve(properties["Content"]))
            spec = FlowSpec(
                name=str(properties["Name"]),
                arn=self.attribute(logical_id, "ContactFlowArn"),
                type=str(properties.get("Type", "CONTACT_FLOW")),
                content=content,
                logical_id=logical_id,
            )
            flows[spec.name] = spec
        return flows

    def flow_by_arn(self, arn: str) -> FlowSpec:
        logical_id = self.logical_id_of(arn)
        return next(f for f in self.flows().values() if f.logical_id == logical_id)

    def inbound_flow(self) -> FlowSpec:
        """The flow the claimed number is associated with (the custom resource's ContactFlowId): a tenant may have
        other contact flows (the chat flow an imported SMS number points at)."""
        candidates = [f for f in self.flows().values() if f.type == "CONTACT_FLOW"]
        claimed = [
            logical_id
            for logical_id in self._of_type("AWS::Connect::PhoneNumber")
            if "SourcePhoneNumberArn" not in self.resources[logical_id].get("Properties", {})
        ]
        associations = [
            text
            for text in (json.dumps(r.get("Properties", {})) for r in self.resources.values())
            if "associatePhoneNumberContactFlow" in text and any(f'"{number}"' in text for number in claimed)
        ]
        associated = [f for f in candidates if any(f'"{f.logical_id}"' in text for text in associations)]
        chosen = associated if associated else candidates
        if len(chosen) != 1:
            raise DeploymentError(f"expected one inbound (CONTACT_FLOW) flow, found {len(chosen)}")
        return chosen[0]

    def function(self, arn_or_name: str) -> FunctionSpec:
        return self._cached("function", arn_or_name, lambda: self._function(arn_or_name))  # type: ignore[no-any-return]

    def _function(self, arn_or_name: str) -> FunctionSpec:
        logical_id = self.logical_id_of(arn_or_name)
        properties = self.resources[logical_id]["Properties"]
        code = properties.get("Code", {})
        return FunctionSpec(
            logical_id=logical_id,
            name=self.ref(logical_id),
            arn=self.attribute(logical_id, "Arn"),
            handler=str(properties.get("Handler", "")),
            environment={
                k: str(self.resolve(v)) for k, v in properties.get("Environment", {}).get("Variables", {}).items()
            },
            asset_hash=str(code.get("S3Key", "")).removesuffix(".zip"),
            timeout_seconds=int(properties.get("Timeout", 3)),
        )

    def of_type(self, kind: str) -> list[str]:
        """The logical ids of the template's resources of `kind` (e.g. `AWS::SecretsManager::Secret`)."""
        return self._of_type(kind)

    def runtime_environment(self, logical_id: str) -> dict[str, str]:
        """An AgentCore runtime's environment variables, resolved as CloudFormation would set them."""
        properties = self._resource(logical_id).get("Properties", {})
        return {k: str(self.resolve(v)) for k, v in properties.get("EnvironmentVariables", {}).items()}

    def function_by_handler_folder(self, service_name: str) -> FunctionSpec:
        """The function whose Powertools service name is `service_name` (its handler folder, e.g. voice_webhook)."""
        for logical_id in self._of_type("AWS::Lambda::Function"):
            variables = self.resources[logical_id].get("Properties", {}).get("Environment", {}).get("Variables", {})
            if variables.get("POWERTOOLS_SERVICE_NAME") == service_name:
                return self.function(self.ref(logical_id))
        raise DeploymentError(f"the template has no function for {service_name!r} (is it enabled for this tenant?)")

    def bot(self, alias_arn: str) -> BotSpec:
        return self._cached("bot", alias_arn, lambda: self._bot(alias_arn))  # type: ignore[no-any-return]

    def _bot(self, alias_arn: str) -> BotSpec:
        alias_logical = self.logical_id_of(alias_arn)
        alias = self.resources[alias_logical]["Properties"]
        bot_id = self.resolve(alias["BotId"])
        bot_logical = next(b for b in self._of_type("AWS::Lex::Bot") if self.attribute(b, "Id") == bot_id)
        bot = self.resources[bot_logical]["Properties"]
        (locale,) = bot["BotLocales"]
        settings = alias.get("BotAliasLocaleSettings", [])
        hook: dict[str, Any] = next(
            (s["BotAliasLocaleSetting"].get("CodeHookSpecification", {}).get("LambdaCodeHook", {}) for s in settings
             if s.get("LocaleId") == locale["LocaleId"]),
            {},
        )  # fmt: skip
        intents = tuple(
            Intent(
                name=str(i["Name"]),
                utterances=tuple(str(u["Utterance"]) for u in i.get("SampleUtterances", [])),
                parent=i.get("ParentIntentSignature"),
                slots=tuple((str(s["Name"]), str(s["SlotTypeName"])) for s in i.get("Slots", [])),
            )
            for i in locale.get("Intents", [])
        )
        slot_types = tuple(
            SlotType(str(t["Name"]), tuple(str(v["SampleValue"]["Value"]) for v in t.get("SlotTypeValues", [])))
            for t in locale.get("SlotTypes", [])
        )
        return BotSpec(
            alias_arn=alias_arn,
            alias_id=self.attribute(alias_logical, "BotAliasId"),
            alias_name=str(alias.get("BotAliasName", "")),
            bot_id=bot_id,
            bot_name=str(bot["Name"]),
            version=str(self.resolve(alias.get("BotVersion", "DRAFT"))),
            locale_id=str(locale["LocaleId"]),
            nlu_threshold=float(locale.get("NluConfidenceThreshold", 0.4)),
            intents=intents,
            slot_types=slot_types,
            code_hook_arn=self.resolve(hook["LambdaArn"]) if hook.get("LambdaArn") else None,
            speech_to_speech="UnifiedSpeechSettings" in locale,
        )

    def queue(self, arn: str) -> QueueSpec:
        properties = self.resources[self.logical_id_of(arn)]["Properties"]
        hours = properties.get("HoursOfOperationArn")
        return QueueSpec(
            arn=arn,
            name=str(properties.get("Name", "")),
            max_contacts=properties.get("MaxContacts"),
            hours_arn=self.resolve(hours) if hours else None,
        )

    def hours(self, arn: str) -> HoursSpec:
        properties = self.resources[self.logical_id_of(arn)]["Properties"]
        days = {
            str(c["Day"]): (
                (int(c["StartTime"]["Hours"]), int(c["StartTime"]["Minutes"])),
                (int(c["EndTime"]["Hours"]), int(c["EndTime"]["Minutes"])),
            )
            for c in properties.get("Config", [])
        }
        return HoursSpec(
            arn=arn, name=str(properties.get("Name", "")), time_zone=str(properties["TimeZone"]), days=days
        )


_ARN_ATTRIBUTES = {
    "AWS::Lambda::Function": ("Arn",),
    "AWS::Lex::BotAlias": ("Arn",),
    "AWS::Connect::Queue": ("QueueArn",),
    "AWS::Connect::HoursOfOperation": ("HoursOfOperationArn",),
    "AWS::Connect::ContactFlow": ("ContactFlowArn",),
    "AWS::BedrockAgentCore::Runtime": ("AgentRuntimeArn",),
}


def _substitute(text: str, deployment: Deployment) -> str:
    import re

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return deployment.attribute(logical_id, attribute)
        return deployment.ref(name)

    return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", value, text)
