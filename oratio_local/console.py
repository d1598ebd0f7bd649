"""`make console`: the vendor console on 127.0.0.1 against the demo's data, until Ctrl-C.

The demo's step 3 runs first (the tenant's vendor sets up the front desk and the members desk through the real
vendor API handler, and sample calls are routed through the call router), then its step 4 conversation with the
front desk (the tenant agent on 127.0.0.1, the rule-based model stand-in), recorded on the routed call as the
voice paths record turns, so the console shows a transcript. The console is served as CloudFront serves it
(`oratio_local/console_server.py`), with the local Cognito stand-in: the sign-in e-mail, password and the TOTP
secret are printed, and the current code is printed every 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp

from oratio.config import TenantConfig, load_tenants
from oratio_local.cognito_standin import CognitoStandIn
from oratio_local.console_server import ConsoleServer, LocalIngestionJobs, LocalKnowledge
from oratio_local.demo import (
    EXAMPLE_TENANT,
    REGION,
    REPO,
    choose_tenant,
    local_agent_environment,
    local_aws,
    route_sample_calls,
    talk_to_agents,
)
from oratio_local.dynamodb import create_tables

DEFAULT_PORT = 8321
DEMO_CALL = "demo-contact-0001"  # the first call the demo routes to the front desk


def console_url(port: int = DEFAULT_PORT) -> str:
    return f"http://127.0.0.1:{port}"


def sign_in_email(tenant: TenantConfig) -> str:
    return f"owner@{tenant.tenant_id}.example"


def _record_demo_call(tenant: TenantConfig, agent_id: str, names: dict[str, str], client: Any, turns: Any) -> None:
    """The demo's front-desk conversation as the voice paths record it, on the call the router opened."""
    from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
    from oratio.agent.ports import TurnRecord
    from oratio.tables import CONVERSATIONS

    recorder = DynamoDBConversationRecorder(names[CONVERSATIONS.key], client=client)
    started = datetime.now(UTC)
    for sequence, (line, events) in enumerate(turns, start=1):
        done = next((e for e in events if e.type == "done"), None)
        record = TurnRecord(
            tenant_id=tenant.tenant_id,
            session_id=DEMO_CALL,
            agent_id=agent_id,
            channel="voice",
            sequence=sequence,
            user_text=line,
            reply_text=" ".join(e.text for e in events if e.type == "text"),
            model_id=getattr(done, "model_id", None),
            routing_reason=str(getattr(done, "routing_reason", "")),
            role=str(getattr(done, "role", "greeter")),
            input_tokens=int(getattr(done, "input_tokens", 0)),
            output_tokens=int(getattr(done, "output_tokens", 0)),
            cost_usd=float(getattr(done, "cost_usd", 0.0)),
            tools=tuple(e.name for e in events if e.type == "tool")
            + tuple("handoff" for e in events if e.type == "handoff"),
            at=started + timedelta(seconds=5 * sequence),
        )
        asyncio.run(recorder.record_turn(record))


def _knowledge(tenant: TenantConfig, names: dict[str, str], client: Any) -> dict[str, LocalKnowledge]:
    """The tenant's knowledge bucket (moto S3), published as its tenant stack does, with its ingestion."""
    import boto3

    from oratio.adapters.dynamodb_ingestion import DynamoDBDocumentStatusStore, DynamoDBIngestionStateStore
    from oratio.ports import SystemClock
    from oratio.tables import KNOWLEDGE_DOCUMENTS, TENANT_STATE
    from oratio.vendors.ingestion import IngestionCoordinator

    bucket = f"oratio-{tenant.tenant_id}-documents-local"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=f"/oratio/tenants/{tenant.tenant_id}/knowledge/bucket-name", Value=bucket, Type="String", Overwrite=True
    )
    coordinator = IngestionCoordinator(
        tenant_id=tenant.tenant_id,
        documents=DynamoDBDocumentStatusStore(names[KNOWLEDGE_DOCUMENTS.key], client=client),
        state=DynamoDBIngestionStateStore(names[TENANT_STATE.key], client=client),
        jobs=LocalIngestionJobs(
            lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
            lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
        ),
        clock=SystemClock(),
    )
    return {bucket: LocalKnowledge(bucket, s3, coordinator)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenant", default=None, help=f"tenant id (default: {EXAMPLE_TENANT})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", DEFAULT_PORT)))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "No application metrics to publish")
    tenant = choose_tenant(load_tenants(REPO / "tenants"), args.tenant)
    print(f"Oratio vendor console — local, against the demo's data for {tenant.tenant_id} (nothing is deployed)")
    with local_aws() as client:
        names = create_tables(client)
        print("  setting up the demo's agents and calls (vendor API, call router, tenant agent)…")
        _vendor, _rows, agents, api = route_sample_calls(tenant, client, names)
        local_agent_environment(tenant, REPO / "tenants", names)
        turns, _compared = talk_to_agents(tenant, agents)
        _record_demo_call(tenant, agents.front_desk, names, client, turns)
        cognito = CognitoStandIn()
        secret, password = pyotp.random_base32(), secrets.token_urlsafe(12)  # new for every run
        cognito.add_user(sign_in_email(tenant), password, tenant.tenant_id, secret)
        server = ConsoleServer(
            api.handler.lambda_handler, cognito, knowledge=_knowledge(tenant, names, client), port=args.port
        )
        url = server.start()
        totp = pyotp.TOTP(secret)
        print(f"\n  open {url}")
        print(f"  sign in as {sign_in_email(tenant)} / {password}")
        uri = totp.provisioning_uri(name=sign_in_email(tenant), issuer_name="Oratio local")
        print(f"  TOTP secret {secret} (for an authenticator app: {uri})")
        print("  Ctrl-C stops the console\n")
        shown = ""
        try:
            while True:
                code = totp.now()
                if code != shown:
                    print(f"  current sign-in code: {code}", flush=True)
                    shown = code
                time.sleep(1)
        except KeyboardInterrupt:
            print("\n  stopped")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
